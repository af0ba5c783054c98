import {
  Alert,
  Button,
  Checkbox,
  Form,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { RegisterVmBody, StorageDomain, UnregisteredList } from '@vireo/api';
import { type FormEvent, type ReactNode, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api, fieldErrors, useLiveObject } from '../../api';
import { SelectField, TextField } from '../common/FormFields';
import { FormFooter } from '../common/FormFooter';
import { useOptions } from '../common/lookups';
import { OperationStatus } from '../storage/OperationStatus';
import { codedMessage } from './ImportDialog';

/** What a data domain holds that the engine does not know; `id` undefined (not a data domain): nothing. */
export function useUnregistered(id: string | undefined) {
  return useLiveObject<UnregisteredList>('storage-domains', id, 'unregistered');
}

/** What to register: a VM or template (cluster, name, clash) or a disk (no fields). */
type Target = { type: 'vms' | 'disks'; id: string; name: string };

/** Builds the VM registration body (only what differs from the engine's defaults). */
export function registerBody(
  clusterId: string,
  name: string,
  original: string,
  rename: boolean,
): RegisterVmBody {
  const body: RegisterVmBody = { cluster_id: clusterId };
  if (name.trim() && name.trim() !== original) body.name = name.trim();
  if (rename) body.on_clash = 'rename';
  return body;
}

function RegisterDialog(props: { domainId: string; target: Target; onClose(): void }) {
  const { target } = props;
  const intl = useIntl();
  const clusters = useOptions('clusters');
  const [cluster, setCluster] = useState('');
  const [name, setName] = useState(target.name);
  const [rename, setRename] = useState(false);
  const [busy, setBusy] = useState(false);
  const [general, setGeneral] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [operationId, setOperationId] = useState<string | null>(null);
  const clusterId = cluster || clusters[0]?.value || '';
  const isVm = target.type === 'vms';

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setGeneral(null);
    setErrors({});
    try {
      const path = `/storage-domains/${props.domainId}/unregistered/${target.type}/${target.id}`;
      const r = await api.action(
        path,
        'register',
        isVm ? registerBody(clusterId, name, target.name, rename) : {},
      );
      if (r.kind === 'accepted') setOperationId(r.operation.id);
      else props.onClose();
    } catch (err) {
      const f = fieldErrors(err);
      if (err instanceof Error && 'code' in err && err.code === 'name_in_use') f.name = codedMessage(err);
      setErrors(f);
      if (!f.name && !f.cluster_id) setGeneral(codedMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal variant="small" isOpen onClose={props.onClose} aria-labelledby="register-title">
      <ModalHeader
        title={intl.formatMessage({ id: 'exports.register.title' }, { name: target.name })}
        labelId="register-title"
      />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        {operationId ? (
          <div data-testid="dialog-operation">
            <OperationStatus operationId={operationId} />
          </div>
        ) : (
          <Form id="register-form" onSubmit={submit}>
            {!isVm && <FormattedMessage id="exports.register.disk" />}
            {isVm && (
              <>
                <SelectField
                  id="register-cluster"
                  label={intl.formatMessage({ id: 'exports.field.cluster' })}
                  value={clusterId}
                  options={clusters}
                  onChange={setCluster}
                  error={errors.cluster_id}
                  isRequired
                />
                <TextField
                  id="register-name"
                  label={intl.formatMessage({ id: 'field.name' })}
                  value={name}
                  onChange={setName}
                  error={errors.name}
                />
                <Checkbox
                  id="register-rename"
                  label={intl.formatMessage({ id: 'exports.field.rename' })}
                  isChecked={rename}
                  onChange={(_e, x) => setRename(x)}
                />
              </>
            )}
          </Form>
        )}
      </ModalBody>
      <FormFooter
        submitButtonId="register-submit"
        submitLabelId="exports.register"
        form={{ busy, submit }}
        onClose={props.onClose}
        done={operationId !== null}
        closeButtonId="register-close"
        closeLabelId="storage.close"
      />
    </Modal>
  );
}

function Problem({ problem }: { problem: { code: string; message: string } | null }) {
  if (!problem) return <FormattedMessage id="exports.register.ok" />;
  return (
    <Label color="red" data-testid="unregistered-problem" title={problem.message}>
      {problem.code}
    </Label>
  );
}

/** One entry of a {@link RegisterTable}: its name cell, the type's own cells, its problem. */
interface RegisterRow {
  id: string;
  /** The name registration starts from (and the row's `data-name`). */
  name: string;
  label: ReactNode;
  /** One per column id of the table, in that order. */
  cells: ReactNode[];
  problem: { code: string; message: string } | null;
}

/** Per table: its title and what the tests find its rows by. */
const TABLES = {
  vms: { titleId: 'exports.register.vms', rowTestId: 'unregistered-vm' },
  disks: { titleId: 'tab.disks', rowTestId: 'unregistered-disk' },
} as const;

/**
 * The VMs or the disks of an unregistered listing: name, the type's own columns, problem and
 * Register… (disabled for an entry with a problem or while the domain is not active).
 */
function RegisterTable(props: {
  columnIds: string[];
  type: Target['type'];
  rows: RegisterRow[];
  canRegister: boolean;
  onRegister(target: Target): void;
}) {
  const intl = useIntl();
  const { titleId, rowTestId } = TABLES[props.type];
  const title = intl.formatMessage({ id: titleId });
  return (
    <>
      <Title headingLevel="h3">{title}</Title>
      <Table aria-label={title} variant="compact">
        <Thead>
          <Tr>
            {['field.name', ...props.columnIds, 'exports.register.problem'].map((id) => (
              <Th key={id}>
                <FormattedMessage id={id} />
              </Th>
            ))}
            <Th screenReaderText={intl.formatMessage({ id: 'exports.register' })} />
          </Tr>
        </Thead>
        <Tbody>
          {props.rows.map((row) => (
            <Tr key={row.id} data-testid={rowTestId} data-name={row.name}>
              <Td>{row.label}</Td>
              {props.columnIds.map((id, i) => (
                <Td key={id}>{row.cells[i]}</Td>
              ))}
              <Td>
                <Problem problem={row.problem} />
              </Td>
              <Td isActionCell>
                <Button
                  size="sm"
                  variant="secondary"
                  data-testid="unregistered-register"
                  isDisabled={row.problem !== null || !props.canRegister}
                  onClick={() => props.onRegister({ type: props.type, id: row.id, name: row.name })}
                >
                  <FormattedMessage id="exports.registerEllipsis" />
                </Button>
              </Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
    </>
  );
}

/**
 * The VMs, templates and disks on a data domain's storage that the engine does not know (an imported
 * domain), each with its problem when it cannot be registered, and Register… for the others.
 */
export function UnregisteredTab({ domain }: { domain: StorageDomain }) {
  const intl = useIntl();
  const list = useUnregistered(domain.id);
  const [target, setTarget] = useState<Target | null>(null);
  const gib = (n: number | null) =>
    n === null ? '—' : `${intl.formatNumber(n / 2 ** 30, { maximumFractionDigits: 2 })} GiB`;
  const data = list.data;
  const register = { canRegister: domain.state === 'active', onRegister: setTarget };
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button id="unregistered-refresh" variant="secondary" onClick={() => void list.refetch()}>
              <FormattedMessage id="exports.refresh" />
            </Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {list.isError && <Alert isInline variant="danger" title={codedMessage(list.error)} />}
      {data && (
        <>
          <RegisterTable
            type="vms"
            columnIds={['exports.kind', 'exports.disks']}
            {...register}
            rows={data.vms.map((v) => ({
              id: v.id,
              name: v.name,
              label: v.name,
              cells: [<FormattedMessage key="kind" id={`exports.kind.${v.kind}`} />, v.disk_ids.length],
              problem: v.problem,
            }))}
          />
          <RegisterTable
            type="disks"
            columnIds={['field.size', 'exports.format']}
            {...register}
            rows={data.disks.map((d) => ({
              id: d.id,
              name: d.name ?? d.id,
              label: d.name ?? <span className="vireo-mono">{d.id}</span>,
              cells: [gib(d.size_bytes), d.format ?? '—'],
              problem: d.problem,
            }))}
          />
        </>
      )}
      {target && (
        <RegisterDialog
          domainId={domain.id}
          target={target}
          onClose={() => {
            setTarget(null);
            void list.refetch();
          }}
        />
      )}
    </>
  );
}
