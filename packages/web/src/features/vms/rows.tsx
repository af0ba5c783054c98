import {
  Button,
  Checkbox,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  TextInput,
} from '@patternfly/react-core';
import { VM_DISK_INTERFACES } from '@vireo/api';
import { FormattedMessage, useIntl } from 'react-intl';
import { FieldError, validated } from '../common/FieldError';
import type { DiskRowValue, NicRowValue } from './vmForm';

type Errors = Record<string, string | undefined>;
export interface Option {
  value: string;
  label: string;
}

/**
 * One new disk: size, format, interface, data domain, bootable. The wizard shows one per disk and
 * the Disks tab uses one to attach a new disk. `errors` is keyed like the API's fields under
 * `prefix` (`disks.0.size_gib`), so the engine's messages land under the right input.
 */
export function DiskRow(props: {
  id: string;
  value: DiskRowValue;
  onChange(patch: Partial<DiskRowValue>): void;
  onRemove?(): void;
  dataDomains: Option[];
  errors?: Errors;
  prefix?: string;
  /** The engine's `disks.encrypt_by_default` (`GET /disks/defaults`): what an untouched box shows. */
  encryptByDefault?: boolean;
}) {
  const intl = useIntl();
  const t = (id: string) => intl.formatMessage({ id });
  const { id, value: d, onChange } = props;
  const err = (f: string) => props.errors?.[`${props.prefix ?? ''}${f}`];
  return (
    <Grid hasGutter data-testid="disk-row">
      <GridItem span={2}>
        <FormGroup label={t('field.sizeGib')} fieldId={`${id}-size`}>
          <TextInput
            id={`${id}-size`}
            inputMode="numeric"
            value={d.size_gib}
            onChange={(_e, v) => onChange({ size_gib: v })}
            validated={validated(err('size_gib'))}
          />
          <FieldError message={err('size_gib')} />
        </FormGroup>
      </GridItem>
      <GridItem span={2}>
        <FormGroup label={t('field.format')} fieldId={`${id}-format`}>
          <FormSelect
            id={`${id}-format`}
            value={d.format}
            onChange={(_e, v) => onChange({ format: v as DiskRowValue['format'] })}
          >
            <FormSelectOption value="qcow2" label="qcow2" />
            <FormSelectOption value="raw" label="raw" />
          </FormSelect>
          <FieldError message={err('format')} />
        </FormGroup>
      </GridItem>
      <GridItem span={2}>
        <FormGroup label={t('field.interface')} fieldId={`${id}-if`}>
          <FormSelect
            id={`${id}-if`}
            value={d.interface}
            onChange={(_e, v) => onChange({ interface: v as DiskRowValue['interface'] })}
          >
            {VM_DISK_INTERFACES.map((x) => (
              <FormSelectOption key={x} value={x} label={x} />
            ))}
          </FormSelect>
        </FormGroup>
      </GridItem>
      <GridItem span={3}>
        <FormGroup label={t('vmx.field.storageDomain')} fieldId={`${id}-domain`}>
          <FormSelect
            id={`${id}-domain`}
            value={d.storage_domain_id}
            onChange={(_e, v) => onChange({ storage_domain_id: v })}
            validated={validated(err('storage_domain_id'))}
          >
            <FormSelectOption value="" label={t('vmx.defaultDomain')} />
            {props.dataDomains.map((o) => (
              <FormSelectOption key={o.value} value={o.value} label={o.label} />
            ))}
          </FormSelect>
          <FieldError message={err('storage_domain_id')} />
        </FormGroup>
      </GridItem>
      <GridItem span={2}>
        <Checkbox
          id={`${id}-boot`}
          label={t('field.bootable')}
          isChecked={d.bootable}
          onChange={(_e, v) => onChange({ bootable: v })}
        />
        <Checkbox
          id={`${id}-encrypted`}
          label={t('field.encrypted')}
          // LUKS lives in the qcow2 header: a raw disk is always plain.
          isDisabled={d.format !== 'qcow2'}
          isChecked={d.format === 'qcow2' && (d.encrypted ?? props.encryptByDefault ?? false)}
          onChange={(_e, v) => onChange({ encrypted: v })}
        />
        <FieldError message={err('encrypted')} />
      </GridItem>
      {props.onRemove && (
        <GridItem span={1}>
          <Button variant="link" isDanger onClick={props.onRemove}>
            <FormattedMessage id="common.remove" />
          </Button>
        </GridItem>
      )}
    </Grid>
  );
}

/** One NIC: user-mode networking or a port on an existing Linux bridge (by name), optional MAC. */
export function NicRow(props: {
  id: string;
  value: NicRowValue;
  onChange(patch: Partial<NicRowValue>): void;
  onRemove?(): void;
  errors?: Errors;
  prefix?: string;
}) {
  const intl = useIntl();
  const t = (id: string) => intl.formatMessage({ id });
  const { id, value: n, onChange } = props;
  const err = (f: string) => props.errors?.[`${props.prefix ?? ''}${f}`];
  return (
    <Grid hasGutter data-testid="nic-row">
      <GridItem span={3}>
        <FormGroup label={t('field.nicType')} fieldId={`${id}-type`}>
          <FormSelect
            id={`${id}-type`}
            value={n.kind}
            onChange={(_e, v) => onChange({ kind: v as NicRowValue['kind'] })}
          >
            <FormSelectOption value="user" label={t('nic.user')} />
            <FormSelectOption value="bridge" label={t('vmx.nic.bridge')} />
          </FormSelect>
        </FormGroup>
      </GridItem>
      <GridItem span={3}>
        {n.kind === 'bridge' && (
          <FormGroup label={t('vmx.field.bridge')} fieldId={`${id}-bridge`} isRequired>
            <TextInput
              id={`${id}-bridge`}
              value={n.bridge}
              placeholder="br0"
              onChange={(_e, v) => onChange({ bridge: v })}
              validated={validated(err('bridge'))}
            />
            <FieldError message={err('bridge')} />
          </FormGroup>
        )}
      </GridItem>
      <GridItem span={4}>
        <FormGroup label={t('field.macOptional')} fieldId={`${id}-mac`}>
          <TextInput
            id={`${id}-mac`}
            value={n.mac}
            onChange={(_e, v) => onChange({ mac: v })}
            validated={validated(err('mac'))}
          />
          <FieldError message={err('mac')} />
        </FormGroup>
      </GridItem>
      {props.onRemove && (
        <GridItem span={2}>
          <Button variant="link" isDanger onClick={props.onRemove}>
            <FormattedMessage id="common.remove" />
          </Button>
        </GridItem>
      )}
    </Grid>
  );
}
