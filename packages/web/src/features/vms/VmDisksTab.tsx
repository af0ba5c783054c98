import {
  Alert,
  Button,
  Checkbox,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  TextInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { VM_DISK_INTERFACES } from '@vireo/api';
import type { Vm } from '@vireo/client';
import { type ReactNode, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api, fieldErrors, useLiveList } from '../../api';
import { ConfirmModal } from '../common/ConfirmModal';
import { FieldError, validated } from '../common/FieldError';
import { MemorySize } from '../common/format';
import { useNames } from '../common/lookups';
import { useDataCenterOf, useDomainOptions } from './lookups';
import { OperationState, useOperationCall } from './operationCall';
import { DiskRow } from './rows';
import { type DiskRowValue, newDiskRow, num } from './vmForm';

type VmDisk = Vm['disks'][number];
type Dialog = 'new' | 'existing' | { extend: VmDisk } | { detach: VmDisk } | null;

/**
 * A VM's disks: attach a new or an existing (floating) disk, detach, extend. While the VM runs
 * the engine hot-plugs (202 + operation) and extends online; the tab shows that operation.
 */
export function VmDisksTab({ vm }: { vm: Vm }) {
  const intl = useIntl();
  const domains = useNames('storage-domains');
  const call = useOperationCall();
  const [dialog, setDialog] = useState<Dialog>(null);
  const attachments = `/vms/${encodeURIComponent(vm.id)}/disk-attachments`;
  const th = (id: string) => <Th>{intl.formatMessage({ id })}</Th>;

  return (
    <div className="vireo-tab-body" data-testid="disks-tab">
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button id="disk-attach-new" onClick={() => setDialog('new')}>
              <FormattedMessage id="vmx.disk.attachNew" />
            </Button>
          </ToolbarItem>
          <ToolbarItem>
            <Button id="disk-attach-existing" variant="secondary" onClick={() => setDialog('existing')}>
              <FormattedMessage id="vmx.disk.attachExisting" />
            </Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {call.operationId && <OperationState operationId={call.operationId} />}
      <Table variant="compact" aria-label={intl.formatMessage({ id: 'tab.disks' })}>
        <Thead>
          <Tr>
            {th('field.name')}
            {th('field.size')}
            {th('field.format')}
            {th('field.interface')}
            {th('field.bootable')}
            {th('vmx.field.storageDomain')}
            <Th screenReaderText={intl.formatMessage({ id: 'list.actions' })} />
          </Tr>
        </Thead>
        <Tbody>
          {vm.disks.map((d) => (
            <Tr key={d.id} data-testid="vm-disk-row" data-name={d.name}>
              <Td>{d.name}</Td>
              <Td>
                <MemorySize mib={d.size_bytes / 1024 / 1024} />
              </Td>
              <Td>{d.format}</Td>
              <Td>{d.interface}</Td>
              <Td>{intl.formatMessage({ id: d.bootable ? 'common.yes' : 'common.no' })}</Td>
              <Td>{domains.get(d.storage_domain_id) ?? d.storage_domain_id.slice(0, 8)}</Td>
              <Td isActionCell className="vireo-actions">
                <Button
                  size="sm"
                  variant="secondary"
                  data-action="extend"
                  onClick={() => setDialog({ extend: d })}
                >
                  <FormattedMessage id="vmx.disk.extend" />
                </Button>
                <Button
                  size="sm"
                  variant="danger"
                  data-action="detach"
                  onClick={() => setDialog({ detach: d })}
                >
                  <FormattedMessage id="vmx.disk.detach" />
                </Button>
              </Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
      {dialog === 'new' && (
        <AttachNewDisk
          vm={vm}
          onClose={() => setDialog(null)}
          onCreated={(operationId) => call.setOperationId(operationId)}
        />
      )}
      {dialog === 'existing' && (
        <AttachExistingDisk
          vm={vm}
          onClose={() => setDialog(null)}
          onSubmit={async (body) => {
            const res = await api.create(attachments, body);
            if (res.kind === 'accepted') call.setOperationId(res.operation.id);
          }}
        />
      )}
      {dialog && typeof dialog === 'object' && 'extend' in dialog && (
        <ExtendDisk
          disk={dialog.extend}
          onClose={() => setDialog(null)}
          onAccepted={(id) => call.setOperationId(id)}
        />
      )}
      {dialog && typeof dialog === 'object' && 'detach' in dialog && (
        <ConfirmModal
          isOpen
          danger
          title={intl.formatMessage({ id: 'vmx.disk.detach' })}
          body={intl.formatMessage(
            { id: 'vmx.disk.detachBody' },
            { name: dialog.detach.name, running: vm.state === 'down' ? 'no' : 'yes' },
          )}
          confirmLabel={intl.formatMessage({ id: 'vmx.disk.detach' })}
          onCancel={() => setDialog(null)}
          onConfirm={() => {
            const d = dialog.detach;
            setDialog(null);
            void call.run('vmx.disk.detach', () => api.delete(`${attachments}/${encodeURIComponent(d.id)}`));
          }}
        />
      )}
    </div>
  );
}

/** A modal form whose submit shows the engine's refusal (field messages under fields, else on top). */
function DialogShell(props: {
  titleId: string;
  submitId: string;
  onClose(): void;
  submit(): Promise<void>;
  setErrors(e: Record<string, string>): void;
  children: ReactNode;
}) {
  const intl = useIntl();
  const [busy, setBusy] = useState(false);
  const [general, setGeneral] = useState<string | null>(null);
  const go = async () => {
    setBusy(true);
    setGeneral(null);
    props.setErrors({});
    try {
      await props.submit();
      props.onClose();
    } catch (err) {
      const f = fieldErrors(err);
      props.setErrors(f);
      setGeneral(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal variant="medium" isOpen onClose={props.onClose} aria-labelledby="vm-dialog-title">
      <ModalHeader title={intl.formatMessage({ id: props.titleId })} labelId="vm-dialog-title" />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        <Form onSubmit={(e) => e.preventDefault()}>{props.children}</Form>
      </ModalBody>
      <ModalFooter>
        <Button id="vm-dialog-submit" onClick={() => void go()} isLoading={busy} isDisabled={busy}>
          <FormattedMessage id={props.submitId} />
        </Button>
        <Button variant="link" onClick={props.onClose}>
          <FormattedMessage id="common.cancel" />
        </Button>
      </ModalFooter>
    </Modal>
  );
}

/** Creates a disk on a data domain, waits for its volume, then attaches it (hot-plug when running). */
function AttachNewDisk(props: { vm: Vm; onClose(): void; onCreated(operationId: string): void }) {
  const intl = useIntl();
  const dc = useDataCenterOf(props.vm.cluster_id);
  const dataDomains = useDomainOptions(dc, 'data');
  const [name, setName] = useState(`${props.vm.name}_Disk${props.vm.disks.length + 1}`);
  const [row, setRow] = useState<DiskRowValue>(newDiskRow);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const domain = row.storage_domain_id || dataDomains[0]?.value || '';
  return (
    <DialogShell
      titleId="vmx.disk.attachNew"
      submitId="vmx.disk.attach"
      onClose={props.onClose}
      setErrors={setErrors}
      submit={async () => {
        // 202 {operation, disk}: the disk exists at once (locked) and is usable when its volume is.
        const created = await api.request<{ operation: { id: string }; disk: { id: string } }>(
          'POST',
          '/disks',
          {
            body: {
              name: name.trim(),
              storage_domain_id: domain,
              size_gib: num(row.size_gib),
              format: row.format,
            },
          },
        );
        props.onCreated(created.body.operation.id);
        const op = await api.waitForOperation(created.body.operation.id, { timeoutMs: 600_000 });
        if (op.state !== 'succeeded') throw new Error(op.error?.message ?? op.state);
        const diskId = created.body.disk.id;
        const res = await api.create(`/vms/${encodeURIComponent(props.vm.id)}/disk-attachments`, {
          disk_id: diskId,
          interface: row.interface,
          ...(row.bootable ? { bootable: true } : {}),
        });
        if (res.kind === 'accepted') props.onCreated(res.operation.id);
      }}
    >
      <FormGroup label={intl.formatMessage({ id: 'field.name' })} fieldId="new-disk-name" isRequired>
        <TextInput
          id="new-disk-name"
          value={name}
          onChange={(_e, v) => setName(v)}
          validated={validated(errors.name)}
        />
        <FieldError message={errors.name} />
      </FormGroup>
      <DiskRow
        id="new-disk"
        value={{ ...row, storage_domain_id: domain }}
        onChange={(p) => setRow((r) => ({ ...r, ...p }))}
        dataDomains={dataDomains}
        errors={errors}
      />
    </DialogShell>
  );
}

/** Attaches a floating disk (attached to no VM, `ok`) with an interface and bootable flag. */
function AttachExistingDisk(props: {
  vm: Vm;
  onClose(): void;
  onSubmit(body: Record<string, unknown>): Promise<void>;
}) {
  const intl = useIntl();
  const disks = useLiveList<{ id: string; name: string; state: string; vm_ids: string[]; size_gib: number }>(
    'disks',
    { limit: 200, sort: 'name' },
  );
  const floating = (disks.data?.items ?? []).filter((d) => d.vm_ids.length === 0 && d.state === 'ok');
  const [diskId, setDiskId] = useState('');
  const [iface, setIface] = useState<string>('virtio');
  const [bootable, setBootable] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const chosen = diskId || floating[0]?.id || '';
  return (
    <DialogShell
      titleId="vmx.disk.attachExisting"
      submitId="vmx.disk.attach"
      onClose={props.onClose}
      setErrors={setErrors}
      submit={() => props.onSubmit({ disk_id: chosen, interface: iface, ...(bootable ? { bootable } : {}) })}
    >
      <FormGroup label={intl.formatMessage({ id: 'nav.disks' })} fieldId="existing-disk" isRequired>
        <FormSelect
          id="existing-disk"
          value={chosen}
          onChange={(_e, v) => setDiskId(v)}
          validated={validated(errors.disk_id)}
        >
          {floating.length === 0 && (
            <FormSelectOption value="" label={intl.formatMessage({ id: 'vmx.disk.noneFloating' })} />
          )}
          {floating.map((d) => (
            <FormSelectOption key={d.id} value={d.id} label={`${d.name} (${d.size_gib} GiB)`} />
          ))}
        </FormSelect>
        <FieldError message={errors.disk_id} />
      </FormGroup>
      <FormGroup label={intl.formatMessage({ id: 'field.interface' })} fieldId="existing-disk-if">
        <FormSelect id="existing-disk-if" value={iface} onChange={(_e, v) => setIface(v)}>
          {VM_DISK_INTERFACES.map((x) => (
            <FormSelectOption key={x} value={x} label={x} />
          ))}
        </FormSelect>
      </FormGroup>
      <Checkbox
        id="existing-disk-boot"
        label={intl.formatMessage({ id: 'field.bootable' })}
        isChecked={bootable}
        onChange={(_e, v) => setBootable(v)}
      />
    </DialogShell>
  );
}

/** Grows a disk (`PATCH /disks/{id}` with its ETag): online when its VM runs; smaller is refused. */
function ExtendDisk(props: { disk: VmDisk; onClose(): void; onAccepted(operationId: string): void }) {
  const intl = useIntl();
  const [size, setSize] = useState(String(props.disk.size_gib + 1));
  const [errors, setErrors] = useState<Record<string, string>>({});
  return (
    <DialogShell
      titleId="vmx.disk.extend"
      submitId="vmx.disk.extend"
      onClose={props.onClose}
      setErrors={setErrors}
      submit={async () => {
        const path = `/disks/${encodeURIComponent(props.disk.id)}`;
        const current = await api.request('GET', path);
        const res = await api.update(path, { size_gib: num(size) }, { ifMatch: current.etag });
        if (res.kind === 'accepted') props.onAccepted(res.operation.id);
      }}
    >
      <FormGroup label={intl.formatMessage({ id: 'vmx.disk.newSize' })} fieldId="extend-size" isRequired>
        <TextInput
          id="extend-size"
          inputMode="numeric"
          value={size}
          onChange={(_e, v) => setSize(v)}
          validated={validated(errors.size_gib)}
        />
        <FieldError message={errors.size_gib} />
      </FormGroup>
    </DialogShell>
  );
}
