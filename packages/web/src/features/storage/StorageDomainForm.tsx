import {
  Alert,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  List,
  ListItem,
  Modal,
  ModalBody,
  ModalHeader,
  TextArea,
  TextInput,
} from '@patternfly/react-core';
import { STORAGE_BACKENDS, STORAGE_DOMAIN_KINDS, type StorageDomain } from '@vireo/api';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useIntl } from 'react-intl';
import { api, refresh } from '../../api';
import { FieldError, validated } from '../common/FieldError';
import { useFormSubmit } from '../common/formSubmit';
import { FormFooter } from '../common/FormFooter';
import { useOptions } from '../common/lookups';
import {
  backendFields,
  createBody,
  type DomainFormValues,
  EMPTY_DOMAIN_FORM,
  importBody,
} from './domainForm';

const LABELS: Record<string, string> = {
  name: 'field.name',
  description: 'field.description',
  kind: 'field.kind',
  backend: 'field.backend',
  host_id: 'field.host',
  path: 'storage.field.path',
  nfs_server: 'storage.field.nfsServer',
  nfs_export: 'storage.field.nfsExport',
  mount_options: 'storage.field.mountOptions',
};

/**
 * Creates a storage domain (`mode="create"`) or registers domains another engine detached
 * (`mode="import"`). Only the chosen backend's fields are shown and sent; the engine validates and
 * its messages appear under the fields they name.
 */
export function StorageDomainForm({ mode, onClose }: { mode: 'create' | 'import'; onClose(): void }) {
  const intl = useIntl();
  const queries = useQueryClient();
  const hosts = useOptions('hosts');
  const [v, setV] = useState<DomainFormValues>(EMPTY_DOMAIN_FORM);
  const [imported, setImported] = useState<StorageDomain[] | null>(null);
  const set = (k: keyof DomainFormValues) => (_e: unknown, x: string) => setV((o) => ({ ...o, [k]: x }));

  const shown: (keyof DomainFormValues)[] = [
    ...(mode === 'create' ? (['name', 'description', 'kind'] as const) : []),
    'backend',
    ...backendFields(v.backend),
    // Import: posix/nfs may name the host that looks (default: any up host).
    ...(mode === 'import' && v.backend !== 'local' ? (['host_id'] as const) : []),
  ];

  const { errors, general, busy, submit } = useFormSubmit(shown, async () => {
    if (mode === 'create') {
      await api.create('/storage-domains', createBody(v));
      await refresh(queries, 'storage-domains');
      onClose();
    } else {
      const body = importBody(v);
      if (v.backend !== 'local' && v.host_id) Object.assign(body, { host_id: v.host_id });
      const res = await api.request<{ domains: StorageDomain[] }>('POST', '/storage-domains/import', {
        body,
      });
      await refresh(queries, 'storage-domains');
      setImported(res.body.domains);
    }
  });

  const input = (k: keyof DomainFormValues) => {
    const id = `sd-${k.replace(/_/g, '-')}`;
    if (k === 'description')
      return <TextArea id={id} value={v[k]} onChange={set(k)} validated={validated(errors[k])} />;
    if (k === 'kind' || k === 'backend') {
      const values = k === 'kind' ? STORAGE_DOMAIN_KINDS : STORAGE_BACKENDS;
      return (
        <FormSelect id={id} value={v[k]} onChange={set(k)} validated={validated(errors[k])}>
          {values.map((x) => (
            <FormSelectOption key={x} value={x} label={intl.formatMessage({ id: `storage.${k}.${x}` })} />
          ))}
        </FormSelect>
      );
    }
    if (k === 'host_id') {
      return (
        <FormSelect id={id} value={v.host_id} onChange={set(k)} validated={validated(errors[k])}>
          <FormSelectOption
            value=""
            label={intl.formatMessage({
              id: mode === 'import' && v.backend !== 'local' ? 'storage.anyHost' : 'storage.pickHost',
            })}
          />
          {hosts.map((h) => (
            <FormSelectOption key={h.value} value={h.value} label={h.label} />
          ))}
        </FormSelect>
      );
    }
    return <TextInput id={id} value={v[k]} onChange={set(k)} validated={validated(errors[k])} />;
  };

  const title = mode === 'create' ? 'storage.domain.create' : 'storage.domain.import';
  return (
    <Modal variant="medium" isOpen onClose={onClose} aria-labelledby="sd-form-title">
      <ModalHeader title={intl.formatMessage({ id: title })} labelId="sd-form-title" />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        {imported ? (
          <Alert
            isInline
            variant={imported.length > 0 ? 'success' : 'info'}
            title={intl.formatMessage({ id: 'storage.imported' }, { count: imported.length })}
            data-testid="import-result"
          >
            <List>
              {imported.map((d) => (
                <ListItem key={d.id}>
                  {d.name} ({d.kind})
                </ListItem>
              ))}
            </List>
          </Alert>
        ) : (
          <Form id="sd-form" onSubmit={submit}>
            {mode === 'import' && (
              <Alert
                isInline
                isPlain
                variant="info"
                title={intl.formatMessage({ id: 'storage.importHint' })}
              />
            )}
            {shown.map((k) => (
              <FormGroup
                key={k}
                label={intl.formatMessage({ id: LABELS[k]! })}
                fieldId={`sd-${k.replace(/_/g, '-')}`}
                isRequired={
                  k === 'name' ||
                  k === 'path' ||
                  k === 'nfs_server' ||
                  k === 'nfs_export' ||
                  (k === 'host_id' && v.backend === 'local')
                }
              >
                {input(k)}
                <FieldError message={errors[k]} />
              </FormGroup>
            ))}
          </Form>
        )}
      </ModalBody>
      <FormFooter
        submitButtonId="sd-submit"
        submitLabelId={mode === 'create' ? 'common.create' : 'storage.domain.importAction'}
        form={{ busy, submit }}
        onClose={onClose}
        done={imported !== null}
        closeLabelId="storage.close"
      />
    </Modal>
  );
}
