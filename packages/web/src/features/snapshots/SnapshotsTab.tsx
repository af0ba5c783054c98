import {
  Alert,
  Button,
  Checkbox,
  Form,
  FormGroup,
  Label,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  TextArea,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { Snapshot } from '@vireo/api';
import type { Vm } from '@vireo/client';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api, useLiveObject } from '../../api';
import { ConfirmModal } from '../common/ConfirmModal';
import { When } from '../common/format';
import { OperationState, useOperationCall } from '../vms/operationCall';
import { snapshotAvailability } from './availability';

type Pending = { kind: 'delete' | 'revert' | 'preview'; snapshot: Snapshot } | { kind: 'commit' | 'undo' };

const STATE_COLOR: Record<string, 'green' | 'blue' | 'orange' | 'red' | 'grey'> = {
  ok: 'green',
  creating: 'blue',
  deleting: 'orange',
  in_preview: 'blue',
  illegal: 'red',
};

/**
 * A VM's snapshots, oldest first (each rests on the one before it): take one (optionally with
 * memory), preview → commit/undo, revert, delete (a live merge when the VM runs, cold when down).
 * Buttons follow the VM's and the snapshots' states, which the event stream keeps fresh.
 */
export function SnapshotsTab({ vm }: { vm: Vm }) {
  const intl = useIntl();
  const list = useLiveObject<{ items: Snapshot[] }>('vms', vm.id, 'snapshots');
  const call = useOperationCall();
  const [creating, setCreating] = useState(false);
  const [pending, setPending] = useState<Pending | null>(null);
  const snapshots = list.data?.items ?? [];
  const can = snapshotAvailability(vm.state, snapshots, vm.disks.length > 0);
  const base = `/vms/${encodeURIComponent(vm.id)}/snapshots`;
  const label = (s: Snapshot) =>
    s.description || intl.formatDate(s.created_at, { dateStyle: 'medium', timeStyle: 'medium' });

  const confirm = async (p: Pending) => {
    setPending(null);
    if (!('snapshot' in p)) {
      await call.run(`snapshot.action.${p.kind}`, () => api.action(base, p.kind));
    } else {
      const path = `${base}/${encodeURIComponent(p.snapshot.id)}`;
      const kind = p.kind;
      await call.run(`snapshot.action.${kind}`, () =>
        kind === 'delete' ? api.delete(path) : api.action(path, kind),
      );
    }
  };

  return (
    <div className="vireo-tab-body" data-testid="snapshots-tab">
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button
              id="snapshot-create"
              isDisabled={!can.create || call.busy}
              onClick={() => setCreating(true)}
            >
              <FormattedMessage id="snapshot.create" />
            </Button>
          </ToolbarItem>
          {(can.commit || can.undo) && (
            <>
              <ToolbarItem>
                <Button
                  id="snapshot-commit"
                  variant="secondary"
                  onClick={() => setPending({ kind: 'commit' })}
                >
                  <FormattedMessage id="snapshot.action.commit" />
                </Button>
              </ToolbarItem>
              <ToolbarItem>
                <Button id="snapshot-undo" variant="secondary" onClick={() => setPending({ kind: 'undo' })}>
                  <FormattedMessage id="snapshot.action.undo" />
                </Button>
              </ToolbarItem>
            </>
          )}
        </ToolbarContent>
      </Toolbar>
      {can.reason && <Alert isInline isPlain variant="info" title={intl.formatMessage({ id: can.reason })} />}
      {call.operationId && <OperationState operationId={call.operationId} />}
      {list.isError && <Alert isInline variant="danger" title={list.error.message} />}
      <Table
        variant="compact"
        aria-label={intl.formatMessage({ id: 'tab.snapshots' })}
        data-testid="snapshots-table"
      >
        <Thead>
          <Tr>
            <Th>{intl.formatMessage({ id: 'field.description' })}</Th>
            <Th>{intl.formatMessage({ id: 'field.created' })}</Th>
            <Th>{intl.formatMessage({ id: 'snapshot.parent' })}</Th>
            <Th>{intl.formatMessage({ id: 'snapshot.memory' })}</Th>
            <Th>{intl.formatMessage({ id: 'field.state' })}</Th>
            <Th screenReaderText={intl.formatMessage({ id: 'list.actions' })} />
          </Tr>
        </Thead>
        <Tbody>
          {snapshots.map((s, i) => {
            const a = can.perSnapshot(s);
            const parent = snapshots[i - 1];
            return (
              <Tr key={s.id} data-testid="snapshot-row" data-state={s.state}>
                <Td>{s.description || '—'}</Td>
                <Td>
                  <When value={s.created_at} />
                </Td>
                <Td>{parent ? label(parent) : '—'}</Td>
                <Td>{intl.formatMessage({ id: s.memory ? 'common.yes' : 'common.no' })}</Td>
                <Td>
                  <Label color={STATE_COLOR[s.state] ?? 'grey'} isCompact>
                    <FormattedMessage id={`snapshot.state.${s.state}`} defaultMessage={s.state} />
                  </Label>
                </Td>
                <Td>
                  <div className="vireo-actions">
                    {(['preview', 'revert', 'delete'] as const).map((kind) => (
                      <Button
                        key={kind}
                        size="sm"
                        variant={kind === 'delete' ? 'danger' : 'secondary'}
                        data-action={kind}
                        isDisabled={!a[kind] || call.busy}
                        onClick={() => setPending({ kind, snapshot: s })}
                      >
                        <FormattedMessage id={`snapshot.action.${kind}`} />
                      </Button>
                    ))}
                  </div>
                </Td>
              </Tr>
            );
          })}
        </Tbody>
      </Table>
      {list.isSuccess && snapshots.length === 0 && (
        <p className="vireo-tab-body">
          <FormattedMessage id="snapshot.none" />
        </p>
      )}
      {creating && (
        <CreateSnapshotModal
          withMemoryAllowed={can.createWithMemory}
          onClose={() => setCreating(false)}
          onSubmit={(body) => {
            setCreating(false);
            void call.run('snapshot.create', () => api.create(base, body));
          }}
        />
      )}
      {pending && (
        <ConfirmModal
          isOpen
          danger={pending.kind === 'delete' || pending.kind === 'revert' || pending.kind === 'commit'}
          title={intl.formatMessage({ id: `snapshot.confirm.${pending.kind}.title` })}
          body={intl.formatMessage(
            { id: `snapshot.confirm.${pending.kind}.body` },
            {
              name: 'snapshot' in pending ? label(pending.snapshot) : '',
              live: vm.state === 'up' ? 'live' : 'cold',
            },
          )}
          confirmLabel={intl.formatMessage({ id: `snapshot.action.${pending.kind}` })}
          onCancel={() => setPending(null)}
          onConfirm={() => void confirm(pending)}
        />
      )}
    </div>
  );
}

function CreateSnapshotModal(props: {
  withMemoryAllowed: boolean;
  onClose(): void;
  onSubmit(body: { description: string; memory?: boolean }): void;
}) {
  const intl = useIntl();
  const [description, setDescription] = useState('');
  const [memory, setMemory] = useState(false);
  return (
    <Modal variant="small" isOpen onClose={props.onClose} aria-labelledby="snapshot-create-title">
      <ModalHeader title={intl.formatMessage({ id: 'snapshot.create' })} labelId="snapshot-create-title" />
      <ModalBody>
        <Form onSubmit={(e) => e.preventDefault()}>
          <FormGroup label={intl.formatMessage({ id: 'field.description' })} fieldId="snapshot-description">
            <TextArea
              id="snapshot-description"
              value={description}
              onChange={(_e, v) => setDescription(v)}
              resizeOrientation="vertical"
            />
          </FormGroup>
          <Checkbox
            id="snapshot-memory"
            label={intl.formatMessage({ id: 'snapshot.withMemory' })}
            description={intl.formatMessage({ id: 'snapshot.withMemoryHelp' })}
            isChecked={memory && props.withMemoryAllowed}
            isDisabled={!props.withMemoryAllowed}
            onChange={(_e, v) => setMemory(v)}
          />
        </Form>
      </ModalBody>
      <ModalFooter>
        <Button
          id="snapshot-create-submit"
          onClick={() =>
            props.onSubmit({ description, ...(memory && props.withMemoryAllowed ? { memory: true } : {}) })
          }
        >
          <FormattedMessage id="snapshot.create" />
        </Button>
        <Button variant="link" onClick={props.onClose}>
          <FormattedMessage id="common.cancel" />
        </Button>
      </ModalFooter>
    </Modal>
  );
}
