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
  ModalHeader,
} from '@patternfly/react-core';
import type { StorageDomain } from '@vireo/api';
import { type FormEvent, type ReactNode, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api, fieldErrors, useLiveList } from '../../api';
import type { ObjectAction } from '../common/actions';
import { SelectField } from '../common/FormFields';
import { FormFooter } from '../common/FormFooter';
import { OperationStatus } from '../storage/OperationStatus';
import { codedMessage } from './ImportDialog';

/** What can be exported: a VM (`/vms/{id}/export`) or a template (`/templates/{id}/export`). */
export interface Exportable {
  kind: 'vm' | 'template';
  id: string;
  name: string;
}

/** The active export domains (only those take exports). */
function useExportDomains(): StorageDomain[] {
  const list = useLiveList<StorageDomain>('storage-domains', {
    kind: 'export',
    state: 'active',
    limit: 200,
    sort: 'name',
  });
  return list.data?.items ?? [];
}

/**
 * Exports a VM or template to an active export domain as OVF or OVA, then stays open on the
 * operation's live progress until it ends. Refusals show the engine's code and message.
 */
export function ExportDialog({ object, onClose }: { object: Exportable; onClose(): void }) {
  const intl = useIntl();
  const domains = useExportDomains();
  const [domain, setDomain] = useState('');
  const [format, setFormat] = useState<'ovf' | 'ova'>('ovf');
  const [overwrite, setOverwrite] = useState(false);
  const [busy, setBusy] = useState(false);
  const [general, setGeneral] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [operationId, setOperationId] = useState<string | null>(null);
  const domainId = domain || domains[0]?.id || '';

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setGeneral(null);
    setErrors({});
    try {
      const path = `/${object.kind === 'vm' ? 'vms' : 'templates'}/${object.id}`;
      const r = await api.action(path, 'export', { storage_domain_id: domainId, format, overwrite });
      if (r.kind === 'accepted') setOperationId(r.operation.id);
      else onClose();
    } catch (err) {
      const f = fieldErrors(err);
      setErrors(f);
      if (!f.storage_domain_id) setGeneral(codedMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal variant="small" isOpen onClose={onClose} aria-labelledby="export-title">
      <ModalHeader
        title={intl.formatMessage({ id: 'exports.export.title' }, { name: object.name })}
        labelId="export-title"
      />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        {operationId ? (
          <div data-testid="dialog-operation">
            <OperationStatus operationId={operationId} />
          </div>
        ) : (
          <Form id="export-form" onSubmit={submit}>
            {domains.length === 0 && (
              <Alert isInline variant="warning" title={intl.formatMessage({ id: 'exports.noDomain' })} />
            )}
            <SelectField
              id="export-domain"
              label={intl.formatMessage({ id: 'exports.field.domain' })}
              value={domainId}
              options={domains.map((d) => ({ value: d.id, label: d.name }))}
              onChange={setDomain}
              error={errors.storage_domain_id}
              isRequired
            />
            <FormGroup label={intl.formatMessage({ id: 'exports.field.format' })} fieldId="export-format">
              <FormSelect
                id="export-format"
                value={format}
                onChange={(_e, x) => setFormat(x as 'ovf' | 'ova')}
              >
                <FormSelectOption value="ovf" label="OVF" />
                <FormSelectOption value="ova" label="OVA" />
              </FormSelect>
            </FormGroup>
            <Checkbox
              id="export-overwrite"
              label={intl.formatMessage({ id: 'exports.field.overwrite' })}
              isChecked={overwrite}
              onChange={(_e, x) => setOverwrite(x)}
            />
          </Form>
        )}
      </ModalBody>
      <FormFooter
        submitButtonId="export-submit"
        submitLabelId="exports.export"
        form={{ busy, submit }}
        onClose={onClose}
        done={operationId !== null}
        closeButtonId="export-close"
        closeLabelId="storage.close"
      />
    </Modal>
  );
}

/** The "Export…" button of a VM (enabled when down) or a template (when ok), with its dialog. */
export function ExportButton(props: { object: Exportable; isDisabled?: boolean; buttonId?: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button
        id={props.buttonId}
        size="sm"
        variant="secondary"
        isDisabled={props.isDisabled}
        onClick={() => setOpen(true)}
      >
        <FormattedMessage id="exports.exportEllipsis" />
      </Button>
      {open && <ExportDialog object={props.object} onClose={() => setOpen(false)} />}
    </>
  );
}

/**
 * "Export…" as a row action of the VM list (enabled when the VM is down) and the dialog it opens:
 * `rowActions={[...VM_ACTIONS, exportVm.action]}` and `{exportVm.view}` in the page.
 */
export function useVmExportAction(): {
  action: ObjectAction<{ id: string; name: string; state: string }>;
  view: ReactNode;
} {
  const [object, setObject] = useState<Exportable | null>(null);
  const action: ObjectAction<{ id: string; name: string; state: string }> = {
    id: 'export',
    titleId: 'exports.exportEllipsis',
    opensDialog: true,
    isDisabled: (vm) => vm.state !== 'down',
    run: async (vm) => setObject({ kind: 'vm', id: vm.id, name: vm.name }),
  };
  const view = object && <ExportDialog object={object} onClose={() => setObject(null)} />;
  return { action, view };
}
