import {
  Alert,
  Checkbox,
  Form,
  FormGroup,
  Modal,
  ModalBody,
  ModalHeader,
  TextInput,
} from '@patternfly/react-core';
import { useQueryClient } from '@tanstack/react-query';
import type { ExportEntry, ExportImportAccepted, ExportImportRequest } from '@vireo/api';
import { VireoClientError } from '@vireo/client';
import { type FormEvent, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link } from 'react-router';
import { api, fieldErrors, refresh } from '../../api';
import { FieldError, validated } from '../common/FieldError';
import { SelectField, TextField } from '../common/FormFields';
import { FormFooter } from '../common/FormFooter';
import { useOptions } from '../common/lookups';
import { useDataDomains } from '../storage/DiskCreateDialog';
import { OperationStatus } from '../storage/OperationStatus';

/** The engine's refusal as the portal shows it: its stable code, then its message. */
export function codedMessage(err: unknown): string {
  if (err instanceof VireoClientError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Builds the import request from the dialog's fields (only what differs from the engine's defaults). */
export function importBody(f: {
  clusterId: string;
  domainId: string;
  name: string;
  entry: ExportEntry;
  rename: boolean;
  newIds: boolean;
  bridge: string;
}): ExportImportRequest {
  const body: ExportImportRequest = { cluster_id: f.clusterId, storage_domain_id: f.domainId };
  const name = f.name.trim();
  if (name && name !== f.entry.name) body.name = name;
  if (f.rename) body.on_clash = 'rename';
  if (f.newIds) body.new_ids = true;
  if (f.entry.origin === 'foreign' && f.bridge.trim()) body.bridge = f.bridge.trim();
  return body;
}

/**
 * Imports one entry of an export domain into a cluster and data domain
 * (`POST /storage-domains/{id}/exports/{entity_id}/import`), then shows the copy's live progress
 * and a link to the new VM or template. A `409 id_in_use` is explained under the new-ids checkbox.
 */
export function ImportDialog(props: { domainId: string; entry: ExportEntry; onClose(): void }) {
  const { entry } = props;
  const intl = useIntl();
  const queries = useQueryClient();
  const clusters = useOptions('clusters');
  const domains = useDataDomains();
  const [cluster, setCluster] = useState('');
  const [target, setTarget] = useState('');
  const [name, setName] = useState(entry.name);
  const [rename, setRename] = useState(false);
  const [newIds, setNewIds] = useState(false);
  const [bridge, setBridge] = useState('');
  const [busy, setBusy] = useState(false);
  const [general, setGeneral] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [accepted, setAccepted] = useState<ExportImportAccepted | null>(null);
  const clusterId = cluster || clusters[0]?.value || '';
  const domainId = target || domains[0]?.id || '';

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setGeneral(null);
    setErrors({});
    try {
      const body = importBody({ clusterId, domainId, name, entry, rename, newIds, bridge });
      const res = await api.request<ExportImportAccepted>(
        'POST',
        `/storage-domains/${props.domainId}/exports/${entry.id}/import`,
        { body },
      );
      setAccepted(res.body);
      await refresh(queries, entry.kind === 'vm' ? 'vms' : 'templates');
    } catch (err) {
      const f = fieldErrors(err);
      const code = err instanceof VireoClientError ? err.code : '';
      if (code === 'id_in_use') f.new_ids = codedMessage(err);
      else if (code === 'name_in_use') f.name = codedMessage(err);
      setErrors(f);
      if (!['name', 'new_ids', 'cluster_id', 'storage_domain_id', 'bridge'].some((k) => f[k]))
        setGeneral(codedMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const link = accepted && `/${accepted.kind === 'vm' ? 'vms' : 'templates'}/${accepted.id}`;
  return (
    <Modal variant="small" isOpen onClose={props.onClose} aria-labelledby="export-import-title">
      <ModalHeader
        title={intl.formatMessage({ id: 'exports.import.title' }, { name: entry.name })}
        labelId="export-import-title"
      />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        {accepted && link ? (
          <div data-testid="dialog-operation">
            <OperationStatus operationId={accepted.operation.id} />
            <p>
              <Link to={link} id="export-import-result" onClick={props.onClose}>
                <FormattedMessage
                  id={`exports.import.open.${accepted.kind}`}
                  values={{ name: accepted.name }}
                />
              </Link>
            </p>
          </div>
        ) : (
          <Form id="export-import-form" onSubmit={submit}>
            <SelectField
              id="export-import-cluster"
              label={intl.formatMessage({ id: 'exports.field.cluster' })}
              value={clusterId}
              options={clusters}
              onChange={setCluster}
              error={errors.cluster_id}
              isRequired
            />
            <SelectField
              id="export-import-target"
              label={intl.formatMessage({ id: 'exports.field.target' })}
              value={domainId}
              options={domains.map((d) => ({ value: d.id, label: d.name }))}
              onChange={setTarget}
              error={errors.storage_domain_id}
              isRequired
            />
            <TextField
              id="export-import-name"
              label={intl.formatMessage({ id: 'field.name' })}
              value={name}
              onChange={setName}
              error={errors.name}
            />
            <Checkbox
              id="export-import-rename"
              label={intl.formatMessage({ id: 'exports.field.rename' })}
              isChecked={rename}
              onChange={(_e, x) => setRename(x)}
            />
            <Checkbox
              id="export-import-new-ids"
              label={intl.formatMessage({ id: 'exports.field.newIds' })}
              description={intl.formatMessage({ id: 'exports.field.newIdsHelp' })}
              isChecked={newIds}
              onChange={(_e, x) => setNewIds(x)}
            />
            <FieldError message={errors.new_ids} />
            {entry.origin === 'foreign' && entry.kind === 'vm' && (
              <FormGroup
                label={intl.formatMessage({ id: 'exports.field.bridge' })}
                fieldId="export-import-bridge"
              >
                <TextInput
                  id="export-import-bridge"
                  value={bridge}
                  onChange={(_e, x) => setBridge(x)}
                  validated={validated(errors.bridge)}
                />
                <FieldError message={errors.bridge} />
              </FormGroup>
            )}
          </Form>
        )}
      </ModalBody>
      <FormFooter
        submitButtonId="export-import-submit"
        submitLabelId="exports.import"
        form={{ busy, submit }}
        onClose={props.onClose}
        done={accepted !== null}
        closeButtonId="export-import-close"
        closeLabelId="storage.close"
      />
    </Modal>
  );
}
