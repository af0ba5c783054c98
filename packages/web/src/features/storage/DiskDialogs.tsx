import { Alert, Checkbox, Form, Modal, ModalBody, ModalHeader } from '@patternfly/react-core';
import { useQueryClient } from '@tanstack/react-query';
import type { Disk } from '@vireo/api';
import type { MutationResult } from '@vireo/client';
import { type ReactNode, useState } from 'react';
import { useIntl } from 'react-intl';
import { api, refresh } from '../../api';
import { FieldError } from '../common/FieldError';
import { SelectField, TextField } from '../common/FormFields';
import { useFormSubmit } from '../common/formSubmit';
import { FormFooter } from '../common/FormFooter';
import { useOptions } from '../common/lookups';
import { InterfaceSelect, useDataDomains } from './DiskCreateDialog';
import { extendProblem, numberOrRaw } from './diskForm';
import { OperationStatus } from './OperationStatus';

/**
 * The frame of the small disk dialogs: fields, the engine's messages under them (or above the form),
 * and — once the engine accepted the work as an operation — that operation's live progress.
 */
function DiskDialog(props: {
  id: string;
  titleId: string;
  submitId: string;
  fieldNames: string[];
  onClose(): void;
  submit(): Promise<MutationResult<unknown> | undefined>;
  children(errors: Record<string, string>): ReactNode;
}) {
  const intl = useIntl();
  const queries = useQueryClient();
  const [operationId, setOperationId] = useState<string | null>(null);
  const { errors, general, busy, submit } = useFormSubmit(props.fieldNames, async () => {
    const r = await props.submit();
    await Promise.all([refresh(queries, 'disks'), refresh(queries, 'vms')]);
    if (r?.kind === 'accepted') setOperationId(r.operation.id);
    else props.onClose();
  });

  return (
    <Modal variant="small" isOpen onClose={props.onClose} aria-labelledby={`${props.id}-title`}>
      <ModalHeader title={intl.formatMessage({ id: props.titleId })} labelId={`${props.id}-title`} />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        {operationId ? (
          <div data-testid="dialog-operation">
            <OperationStatus operationId={operationId} />
          </div>
        ) : (
          <Form id={`${props.id}-form`} onSubmit={submit}>
            {props.children(errors)}
          </Form>
        )}
      </ModalBody>
      <FormFooter
        submitButtonId={`${props.id}-submit`}
        submitLabelId={props.submitId}
        form={{ busy, submit }}
        onClose={props.onClose}
        done={operationId !== null}
        closeButtonId={`${props.id}-close`}
        closeLabelId="storage.close"
      />
    </Modal>
  );
}

/** Grows a disk (`PATCH size_gib` with If-Match; online when its VM runs). */
export function DiskExtendDialog({ disk, onClose }: { disk: Disk; onClose(): void }) {
  const intl = useIntl();
  const [size, setSize] = useState(String(disk.size_gib + 1));
  const [local, setLocal] = useState<string | null>(null);
  return (
    <DiskDialog
      id="disk-extend"
      titleId="storage.disk.extend"
      submitId="storage.disk.extend"
      fieldNames={['size_gib', 'size_bytes']}
      onClose={onClose}
      submit={async () => {
        const problem = extendProblem(disk.size_gib, size);
        setLocal(problem && intl.formatMessage({ id: `storage.extend.${problem}` }, { size: disk.size_gib }));
        if (problem) return undefined;
        const current = await api.request<Disk>('GET', `/disks/${disk.id}`);
        return api.update(`/disks/${disk.id}`, { size_gib: numberOrRaw(size) }, { ifMatch: current.etag });
      }}
    >
      {(errors) => (
        <TextField
          id="disk-new-size"
          label={intl.formatMessage({ id: 'storage.field.newSize' }, { size: disk.size_gib })}
          inputMode="numeric"
          value={size}
          onChange={setSize}
          error={local ?? errors.size_gib ?? errors.size_bytes}
          isRequired
        />
      )}
    </DiskDialog>
  );
}

/** Moves or copies a disk to another active data domain; shows the operation's progress. */
export function DiskMoveDialog({ disk, onClose }: { disk: Disk; onClose(): void }) {
  const intl = useIntl();
  const targets = useDataDomains().filter((d) => d.id !== disk.storage_domain_id);
  const [mode, setMode] = useState<'move' | 'copy'>('move');
  const [target, setTarget] = useState('');
  const [name, setName] = useState(`${disk.name}-copy`);
  const chosen = target || targets[0]?.id || '';
  return (
    <DiskDialog
      id="disk-move"
      titleId="storage.disk.moveCopy"
      submitId={mode === 'move' ? 'storage.disk.move' : 'storage.disk.copy'}
      fieldNames={['storage_domain_id', 'name']}
      onClose={onClose}
      submit={() =>
        api.action(`/disks/${disk.id}`, mode, {
          storage_domain_id: chosen,
          ...(mode === 'copy' && name.trim() ? { name: name.trim() } : {}),
        })
      }
    >
      {(errors) => (
        <>
          {targets.length === 0 && (
            <Alert isInline variant="warning" title={intl.formatMessage({ id: 'storage.noOtherDomain' })} />
          )}
          <SelectField
            id="disk-move-mode"
            label={intl.formatMessage({ id: 'storage.field.operation' })}
            value={mode}
            options={(['move', 'copy'] as const).map((m) => ({
              value: m,
              label: intl.formatMessage({ id: `storage.disk.${m}` }),
            }))}
            onChange={(x) => setMode(x as 'move' | 'copy')}
          />
          <SelectField
            id="disk-move-target"
            label={intl.formatMessage({ id: 'storage.field.target' })}
            value={chosen}
            options={targets.map((d) => ({ value: d.id, label: d.name }))}
            onChange={setTarget}
            error={errors.storage_domain_id}
            isRequired
          />
          {mode === 'copy' && (
            <TextField
              id="disk-copy-name"
              label={intl.formatMessage({ id: 'field.name' })}
              value={name}
              onChange={setName}
              error={errors.name}
            />
          )}
        </>
      )}
    </DiskDialog>
  );
}

/**
 * Attaches a disk to a VM (`POST /vms/{id}/disk-attachments`; hot-plug when the VM runs). Give
 * `disk` to pick the VM (the disk list) or `vmId` and `disks` to pick the disk (a VM's Disks tab).
 */
export function DiskAttachDialog(props: {
  disk?: Disk;
  vmId?: string;
  disks?: { value: string; label: string }[];
  onClose(): void;
}) {
  const intl = useIntl();
  const vms = useOptions('vms');
  const [vmId, setVmId] = useState(props.vmId ?? '');
  const [diskId, setDiskId] = useState(props.disk?.id ?? '');
  const [iface, setIface] = useState('virtio');
  const [bootable, setBootable] = useState(false);
  const vm = vmId || vms[0]?.value || '';
  const disk = diskId || props.disks?.[0]?.value || '';
  return (
    <DiskDialog
      id="disk-attach"
      titleId="storage.disk.attach"
      submitId="storage.disk.attach"
      fieldNames={['disk_id', 'interface', 'bootable']}
      onClose={props.onClose}
      submit={() => api.create(`/vms/${vm}/disk-attachments`, { disk_id: disk, interface: iface, bootable })}
    >
      {(errors) => (
        <>
          {!props.vmId && (
            <SelectField
              id="disk-attach-vm"
              label={intl.formatMessage({ id: 'storage.field.vm' })}
              value={vm}
              options={vms}
              onChange={setVmId}
              isRequired
            />
          )}
          {!props.disk && (
            <SelectField
              id="disk-attach-disk"
              label={intl.formatMessage({ id: 'storage.field.disk' })}
              value={disk}
              options={props.disks ?? []}
              onChange={setDiskId}
              error={errors.disk_id}
              isRequired
            />
          )}
          <InterfaceSelect
            id="disk-attach-interface"
            label={intl.formatMessage({ id: 'field.interface' })}
            value={iface}
            onChange={setIface}
            error={errors.interface}
          />
          <Checkbox
            id="disk-attach-bootable"
            label={intl.formatMessage({ id: 'field.bootable' })}
            isChecked={bootable}
            onChange={(_e, x) => setBootable(x)}
          />
          <FieldError message={errors.bootable} />
        </>
      )}
    </DiskDialog>
  );
}
