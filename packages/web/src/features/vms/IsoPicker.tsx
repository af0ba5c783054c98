import {
  FormGroup,
  FormSelect,
  FormSelectOption,
  HelperText,
  HelperTextItem,
  TextInput,
} from '@patternfly/react-core';
import { useIntl } from 'react-intl';
import { FieldError, validated } from '../common/FieldError';
import { useDomainOptions, useIsoFiles } from './lookups';

/**
 * The CD-ROM: pick an ISO domain of the VM's data center, then one of its images (the agent's
 * listing: regular files with safe names). "ISO directory" keeps the older form, a file name in
 * the engine's `VIREO_ISO_DIR`, typed.
 */
export function IsoPicker(props: {
  datacenterId: string;
  domainId: string;
  file: string;
  onChange(domainId: string, file: string): void;
  error?: string;
}) {
  const intl = useIntl();
  const t = (id: string) => intl.formatMessage({ id });
  const domains = useIsoDomainsWithFiles(props.datacenterId, props.domainId);
  return (
    <>
      <FormGroup label={t('vmx.field.isoSource')} fieldId="vm-iso-domain">
        <FormSelect id="vm-iso-domain" value={props.domainId} onChange={(_e, v) => props.onChange(v, '')}>
          <FormSelectOption value="" label={t('vmx.isoDir')} />
          {domains.options.map((o) => (
            <FormSelectOption key={o.value} value={o.value} label={o.label} />
          ))}
        </FormSelect>
      </FormGroup>
      {props.domainId ? (
        <FormGroup label={t('vmx.field.isoFile')} fieldId="vm-iso-file">
          <FormSelect
            id="vm-iso-file"
            value={props.file}
            onChange={(_e, v) => props.onChange(props.domainId, v)}
            validated={validated(props.error)}
          >
            <FormSelectOption value="" label={t('vmx.noCdrom')} />
            {domains.files.map((f) => (
              <FormSelectOption key={f} value={f} label={f} />
            ))}
          </FormSelect>
          {domains.error && (
            <HelperText>
              <HelperTextItem variant="error">{domains.error.message}</HelperTextItem>
            </HelperText>
          )}
          <FieldError message={props.error} />
        </FormGroup>
      ) : (
        <FormGroup label={t('field.cdromImage')} fieldId="vm-cdrom">
          <TextInput
            id="vm-cdrom"
            value={props.file}
            placeholder="debian-12.iso"
            onChange={(_e, v) => props.onChange('', v)}
            validated={validated(props.error)}
          />
          <FieldError message={props.error} />
        </FormGroup>
      )}
    </>
  );
}

function useIsoDomainsWithFiles(datacenterId: string, domainId: string) {
  const options = useDomainOptions(datacenterId, 'iso');
  const { files, error } = useIsoFiles(domainId);
  return { options, files, error };
}
