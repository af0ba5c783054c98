import {
  Alert,
  Checkbox,
  Form,
  FormGroup,
  Modal,
  ModalBody,
  ModalHeader,
  TextArea,
} from '@patternfly/react-core';
import { useQueryClient } from '@tanstack/react-query';
import { type Disk, type DiskDefaults, type StorageDomain, VM_DISK_INTERFACES } from '@vireo/api';
import { useEffect, useState } from 'react';
import { useIntl } from 'react-intl';
import { api, refresh, useLiveList, useLiveObject } from '../../api';
import { FieldError, validated } from '../common/FieldError';
import { SelectField, TextField } from '../common/FormFields';
import { useFormSubmit } from '../common/formSubmit';
import { FormFooter } from '../common/FormFooter';
import { diskCreateBody, type DiskFormValues, EMPTY_DISK_FORM } from './diskForm';

/** Active data domains, the places a new disk can go. */
export function useDataDomains(): StorageDomain[] {
  const list = useLiveList<StorageDomain>('storage-domains', {
    kind: 'data',
    state: 'active',
    limit: 200,
    sort: 'name',
  });
  return list.data?.items ?? [];
}

const FIELDS = [
  'name',
  'storage_domain_id',
  'size_gib',
  'format',
  'preallocation',
  'shareable',
  'encrypted',
  'description',
];

/**
 * Creates a floating disk (`POST /disks`, an operation). With `vmId` the disk is then attached to
 * that VM (after its creation operation ends, since a disk being created is locked) — the VM page's
 * Disks tab uses it that way. The engine's messages appear under the fields they name.
 */
export function DiskCreateDialog(props: {
  storageDomainId?: string;
  vmId?: string;
  onClose(): void;
  onCreated?(disk: Disk, operationId: string | undefined): void;
}) {
  const intl = useIntl();
  const queries = useQueryClient();
  const domains = useDataDomains();
  const [v, setV] = useState<DiskFormValues>({
    ...EMPTY_DISK_FORM,
    storage_domain_id: props.storageDomainId ?? '',
  });
  // What an untouched encryption box shows: the engine's disks.encrypt_by_default.
  const defaults = useLiveObject<DiskDefaults>('disks', 'defaults');
  const [iface, setIface] = useState('virtio');
  const [bootable, setBootable] = useState(false);

  // The first active data domain until the user picks one.
  useEffect(() => {
    if (!v.storage_domain_id && domains[0]) setV((o) => ({ ...o, storage_domain_id: domains[0]!.id }));
  }, [domains, v.storage_domain_id]);

  const set = <K extends keyof DiskFormValues>(k: K, x: DiskFormValues[K]) => setV((o) => ({ ...o, [k]: x }));
  const { errors, general, busy, submit } = useFormSubmit(
    FIELDS,
    async () => {
      const res = await api.request<{ disk: Disk; operation?: { id: string } }>('POST', '/disks', {
        body: diskCreateBody(v),
      });
      const { disk, operation } = res.body;
      if (props.vmId) {
        if (operation) {
          const op = await api.waitForOperation(operation.id);
          if (op.state !== 'succeeded') throw new Error(op.error?.message ?? op.state);
        }
        await api.create(`/vms/${props.vmId}/disk-attachments`, {
          disk_id: disk.id,
          interface: iface,
          bootable,
        });
        await refresh(queries, 'vms');
      }
      await refresh(queries, 'disks');
      props.onCreated?.(disk, operation?.id);
      props.onClose();
    },
    // The form calls the engine's `preallocation` "allocation".
    (f) => {
      if (f.preallocation && !f.allocation) f.allocation = f.preallocation;
    },
  );

  const label = (id: string) => intl.formatMessage({ id });
  /** Options whose labels are the messages `<prefix>.<value>`. */
  const choices = (prefix: string, values: string[]) =>
    values.map((value) => ({ value, label: label(`${prefix}.${value}`) }));
  return (
    <Modal variant="medium" isOpen onClose={props.onClose} aria-labelledby="disk-form-title">
      <ModalHeader title={label('storage.disk.create')} labelId="disk-form-title" />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        {domains.length === 0 && (
          <Alert
            isInline
            variant="warning"
            title={label('storage.noDataDomain')}
            data-testid="no-data-domain"
          />
        )}
        <Form id="disk-form" onSubmit={submit}>
          <TextField
            id="disk-name"
            label={label('field.name')}
            value={v.name}
            onChange={(x) => set('name', x)}
            error={errors.name}
            isRequired
          />
          <SelectField
            id="disk-domain"
            label={label('storage.field.domain')}
            value={v.storage_domain_id}
            options={domains.map((d) => ({ value: d.id, label: d.name }))}
            onChange={(x) => set('storage_domain_id', x)}
            error={errors.storage_domain_id}
            isRequired
          />
          <TextField
            id="disk-size"
            label={label('field.sizeGib')}
            inputMode="numeric"
            value={v.size_gib}
            onChange={(x) => set('size_gib', x)}
            error={errors.size_gib}
            isRequired
          />
          <SelectField
            id="disk-format"
            label={label('field.format')}
            value={v.format}
            options={choices('storage.format', ['qcow2', 'raw'])}
            onChange={(x) => set('format', x as 'qcow2' | 'raw')}
            error={errors.format}
          />
          <SelectField
            id="disk-allocation"
            label={label('storage.field.allocation')}
            value={v.allocation}
            options={choices('storage.allocation', ['thin', 'preallocated'])}
            onChange={(x) => set('allocation', x as 'thin' | 'preallocated')}
            error={errors.allocation}
          />
          <FormGroup fieldId="disk-shareable">
            <Checkbox
              id="disk-shareable"
              label={label('storage.field.shareable')}
              isChecked={v.shareable}
              onChange={(_e, x) => set('shareable', x)}
            />
            <FieldError message={errors.shareable} />
            <Checkbox
              id="disk-encrypted"
              label={label('storage.field.encrypted')}
              isChecked={v.encrypted ?? (v.format === 'qcow2' && defaults.data?.encrypted === true)}
              onChange={(_e, x) => set('encrypted', x)}
            />
            <FieldError message={errors.encrypted} />
          </FormGroup>
          {props.vmId && (
            <>
              <InterfaceSelect
                id="disk-interface"
                label={label('field.interface')}
                value={iface}
                onChange={setIface}
              />
              <Checkbox
                id="disk-bootable"
                label={label('field.bootable')}
                isChecked={bootable}
                onChange={(_e, x) => setBootable(x)}
              />
            </>
          )}
          <FormGroup label={label('field.description')} fieldId="disk-description">
            <TextArea
              id="disk-description"
              value={v.description}
              onChange={(_e, x) => set('description', x)}
              validated={validated(errors.description)}
            />
            <FieldError message={errors.description} />
          </FormGroup>
        </Form>
      </ModalBody>
      <FormFooter
        submitButtonId="disk-submit"
        submitLabelId="common.create"
        form={{ busy, submit }}
        onClose={props.onClose}
      />
    </Modal>
  );
}

const INTERFACES = VM_DISK_INTERFACES.map((i) => ({ value: i, label: i }));

/** The bus a VM sees a disk on: a {@link SelectField} of the disk interfaces. */
export function InterfaceSelect(props: {
  id: string;
  label: string;
  value: string;
  onChange(v: string): void;
  error?: string | undefined;
}) {
  return <SelectField {...props} options={INTERFACES} />;
}
