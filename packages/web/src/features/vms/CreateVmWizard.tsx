import {
  Alert,
  Button,
  Checkbox,
  DescriptionList,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  PageSection,
  TextInput,
  Title,
  useWizardContext,
  Wizard,
  WizardStep,
} from '@patternfly/react-core';
import { VM_DISK_INTERFACES, VM_MAX_DISKS, VM_MAX_NICS, VM_OS_TYPES } from '@vireo/api';
import type { Vm } from '@vireo/client';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { useNavigate } from 'react-router';
import { api, fieldErrors, refresh } from '../../api';
import { FieldError, validated } from '../common/FieldError';
import { useOptions } from '../common/lookups';
import { useNotify } from '../common/notify';
import { Field } from './VmDetailPage';
import { BOOT_ORDERS, emptyVmForm, stepOfField, toVmCreate, type VmForm } from './vmForm';

type Errors = Record<string, string>;

function Review({ form, errors, general }: { form: VmForm; errors: Errors; general: string | null }) {
  const intl = useIntl();
  const { goToStepById } = useWizardContext();
  const body = toVmCreate(form);
  return (
    <>
      {general && <Alert isInline variant="danger" title={general} data-testid="wizard-error" />}
      {Object.entries(errors).map(([field, message]) => (
        <Alert key={field} isInline variant="danger" title={`${field}: ${message}`}>
          <Button variant="link" isInline onClick={() => goToStepById(stepOfField(field))}>
            <FormattedMessage id="wizard.fixField" />
          </Button>
        </Alert>
      ))}
      <DescriptionList isHorizontal>
        <Field id="field.name">{form.name}</Field>
        <Field id="field.cpus">{form.cpus}</Field>
        <Field id="field.memoryMib">{form.memory_mib}</Field>
        <Field id="field.osType">{form.os_type}</Field>
        <Field id="tab.disks">
          {form.disks.map((d) => `${d.size_gib} GiB ${d.format} ${d.interface}`).join('; ') || '—'}
        </Field>
        <Field id="tab.nics">{intl.formatNumber(form.nics.length)}</Field>
        <Field id="field.cdrom">{form.cdrom || '—'}</Field>
        <Field id="field.bootOrder">{(body.boot_order as string[]).join(' → ')}</Field>
      </DescriptionList>
    </>
  );
}

/**
 * Create a VM: general → disks → NICs → CD/boot → review. Nothing is second-guessed in the
 * browser: the engine validates, and its messages appear next to the fields they name (and the
 * steps holding them are marked), so the rules live in one place.
 */
export function CreateVmWizard() {
  const intl = useIntl();
  const navigate = useNavigate();
  const notify = useNotify();
  const queries = useQueryClient();
  const clusters = useOptions('clusters');
  const [form, setForm] = useState<VmForm>(() => emptyVmForm());
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const t = (id: string) => intl.formatMessage({ id });

  useEffect(() => {
    const first = clusters[0];
    if (!form.cluster_id && first) setForm((f) => ({ ...f, cluster_id: first.value }));
  }, [clusters, form.cluster_id]);

  const set = <K extends keyof VmForm>(k: K, v: VmForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const stepStatus = (step: string) =>
    Object.keys(errors).some((f) => stepOfField(f) === step) ? ('error' as const) : ('default' as const);

  const submit = async () => {
    setBusy(true);
    setGeneral(null);
    setErrors({});
    try {
      const res = await api.create<Vm>('/vms', toVmCreate(form));
      await refresh(queries, 'vms');
      const vm = res.kind === 'done' ? res.value : undefined;
      notify({ variant: 'success', title: intl.formatMessage({ id: 'vm.created' }, { name: form.name }) });
      navigate(vm ? `/vms/${vm.id}` : '/vms');
    } catch (err) {
      const fields = fieldErrors(err);
      setErrors(fields);
      if (Object.keys(fields).length === 0) setGeneral(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const disk = (i: number, patch: Partial<VmForm['disks'][number]>) =>
    set(
      'disks',
      form.disks.map((d, j) =>
        j === i ? { ...d, ...patch } : patch.bootable ? { ...d, bootable: false } : d,
      ),
    );

  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="vm.create" />
      </Title>
      <Wizard onClose={() => navigate('/vms')} onSave={submit} height={560} navAriaLabel={t('vm.create')}>
        <WizardStep name={t('wizard.general')} id="general" status={stepStatus('general')}>
          <Form>
            <FormGroup label={t('field.name')} fieldId="vm-name" isRequired>
              <TextInput
                id="vm-name"
                value={form.name}
                onChange={(_e, v) => set('name', v)}
                validated={validated(errors.name)}
              />
              <FieldError message={errors.name} />
            </FormGroup>
            <FormGroup label={t('field.cluster')} fieldId="vm-cluster" isRequired>
              <FormSelect
                id="vm-cluster"
                value={form.cluster_id}
                onChange={(_e, v) => set('cluster_id', v)}
                validated={validated(errors.cluster_id)}
              >
                {clusters.map((c) => (
                  <FormSelectOption key={c.value} value={c.value} label={c.label} />
                ))}
              </FormSelect>
              <FieldError message={errors.cluster_id} />
            </FormGroup>
            <FormGroup label={t('field.cpus')} fieldId="vm-cpus">
              <TextInput
                id="vm-cpus"
                inputMode="numeric"
                value={form.cpus}
                onChange={(_e, v) => set('cpus', v)}
                validated={validated(errors.cpus)}
              />
              <FieldError message={errors.cpus} />
            </FormGroup>
            <FormGroup label={t('field.memoryMib')} fieldId="vm-memory">
              <TextInput
                id="vm-memory"
                inputMode="numeric"
                value={form.memory_mib}
                onChange={(_e, v) => set('memory_mib', v)}
                validated={validated(errors.memory_mib)}
              />
              <FieldError message={errors.memory_mib} />
            </FormGroup>
            <FormGroup label={t('field.osType')} fieldId="vm-os">
              <FormSelect id="vm-os" value={form.os_type} onChange={(_e, v) => set('os_type', v)}>
                {VM_OS_TYPES.map((o) => (
                  <FormSelectOption key={o} value={o} label={o} />
                ))}
              </FormSelect>
              <FieldError message={errors.os_type} />
            </FormGroup>
          </Form>
        </WizardStep>
        <WizardStep name={t('tab.disks')} id="disks" status={stepStatus('disks')}>
          <Form>
            <FieldError message={errors.disks} />
            {form.disks.map((d, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: new disks have no id yet; position is identity
              <Grid hasGutter key={i}>
                <GridItem span={3}>
                  <FormGroup label={t('field.sizeGib')} fieldId={`disk-${i}-size`}>
                    <TextInput
                      id={`disk-${i}-size`}
                      inputMode="numeric"
                      value={d.size_gib}
                      onChange={(_e, v) => disk(i, { size_gib: v })}
                      validated={validated(errors[`disks.${i}.size_gib`])}
                    />
                    <FieldError message={errors[`disks.${i}.size_gib`]} />
                  </FormGroup>
                </GridItem>
                <GridItem span={3}>
                  <FormGroup label={t('field.format')} fieldId={`disk-${i}-format`}>
                    <FormSelect
                      id={`disk-${i}-format`}
                      value={d.format}
                      onChange={(_e, v) => disk(i, { format: v as 'qcow2' | 'raw' })}
                    >
                      <FormSelectOption value="qcow2" label="qcow2" />
                      <FormSelectOption value="raw" label="raw" />
                    </FormSelect>
                  </FormGroup>
                </GridItem>
                <GridItem span={3}>
                  <FormGroup label={t('field.interface')} fieldId={`disk-${i}-if`}>
                    <FormSelect
                      id={`disk-${i}-if`}
                      value={d.interface}
                      onChange={(_e, v) => disk(i, { interface: v as VmForm['disks'][number]['interface'] })}
                    >
                      {VM_DISK_INTERFACES.map((x) => (
                        <FormSelectOption key={x} value={x} label={x} />
                      ))}
                    </FormSelect>
                  </FormGroup>
                </GridItem>
                <GridItem span={2}>
                  <Checkbox
                    id={`disk-${i}-boot`}
                    label={t('field.bootable')}
                    isChecked={d.bootable}
                    onChange={(_e, v) => disk(i, { bootable: v })}
                  />
                </GridItem>
                <GridItem span={1}>
                  <Button
                    variant="link"
                    isDanger
                    onClick={() =>
                      set(
                        'disks',
                        form.disks.filter((_, j) => j !== i),
                      )
                    }
                  >
                    <FormattedMessage id="common.remove" />
                  </Button>
                </GridItem>
              </Grid>
            ))}
            <Button
              variant="secondary"
              id="add-disk"
              isDisabled={form.disks.length >= VM_MAX_DISKS}
              onClick={() =>
                set('disks', [
                  ...form.disks,
                  { size_gib: '10', format: 'qcow2', interface: 'virtio', bootable: false },
                ])
              }
            >
              <FormattedMessage id="wizard.addDisk" />
            </Button>
          </Form>
        </WizardStep>
        <WizardStep name={t('tab.nics')} id="nics" status={stepStatus('nics')}>
          <Form>
            <FieldError message={errors.nics} />
            {form.nics.map((n, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: new NICs have no id; position is identity
              <Grid hasGutter key={i}>
                <GridItem span={3}>
                  <FormGroup label={t('field.nicType')} fieldId={`nic-${i}-type`}>
                    <TextInput id={`nic-${i}-type`} value={t('nic.user')} readOnlyVariant="plain" />
                  </FormGroup>
                </GridItem>
                <GridItem span={6}>
                  <FormGroup label={t('field.macOptional')} fieldId={`nic-${i}-mac`}>
                    <TextInput
                      id={`nic-${i}-mac`}
                      value={n.mac}
                      onChange={(_e, v) =>
                        set(
                          'nics',
                          form.nics.map((x, j) => (j === i ? { mac: v } : x)),
                        )
                      }
                      validated={validated(errors[`nics.${i}.mac`])}
                    />
                    <FieldError message={errors[`nics.${i}.mac`]} />
                  </FormGroup>
                </GridItem>
                <GridItem span={3}>
                  <Button
                    variant="link"
                    isDanger
                    onClick={() =>
                      set(
                        'nics',
                        form.nics.filter((_, j) => j !== i),
                      )
                    }
                  >
                    <FormattedMessage id="common.remove" />
                  </Button>
                </GridItem>
              </Grid>
            ))}
            <Button
              variant="secondary"
              id="add-nic"
              isDisabled={form.nics.length >= VM_MAX_NICS}
              onClick={() => set('nics', [...form.nics, { mac: '' }])}
            >
              <FormattedMessage id="wizard.addNic" />
            </Button>
          </Form>
        </WizardStep>
        <WizardStep name={t('wizard.boot')} id="boot" status={stepStatus('boot')}>
          <Form>
            <FormGroup label={t('field.cdromImage')} fieldId="vm-cdrom">
              <TextInput
                id="vm-cdrom"
                value={form.cdrom}
                placeholder="debian-12.iso"
                onChange={(_e, v) => set('cdrom', v)}
                validated={validated(errors['cdrom.image'] ?? errors.cdrom)}
              />
              <FieldError message={errors['cdrom.image'] ?? errors.cdrom} />
            </FormGroup>
            <FormGroup label={t('field.bootOrder')} fieldId="vm-boot">
              <FormSelect
                id="vm-boot"
                value={form.boot_order}
                onChange={(_e, v) => set('boot_order', v)}
                validated={validated(errors.boot_order)}
              >
                {BOOT_ORDERS.map((b) => (
                  <FormSelectOption key={b} value={b} label={b.split(',').join(' → ')} />
                ))}
              </FormSelect>
              <FieldError message={errors.boot_order} />
            </FormGroup>
          </Form>
        </WizardStep>
        <WizardStep
          name={t('wizard.review')}
          id="review"
          footer={{
            nextButtonText: t('wizard.create'),
            isNextDisabled: busy,
            nextButtonProps: { id: 'wizard-create' } as never,
          }}
        >
          <Review form={form} errors={errors} general={general} />
        </WizardStep>
      </Wizard>
    </PageSection>
  );
}
