import {
  Alert,
  Button,
  DescriptionList,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  PageSection,
  Radio,
  TextInput,
  Title,
  useWizardContext,
  Wizard,
  WizardStep,
} from '@patternfly/react-core';
import { type DiskDefaults, VM_CONSOLE_TYPES, VM_MAX_DISKS, VM_MAX_NICS, VM_OS_TYPES } from '@vireo/api';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { useNavigate, useSearchParams } from 'react-router';
import { api, fieldErrors, refresh, useLiveObject } from '../../api';
import { FieldError, validated } from '../common/FieldError';
import { useOptions } from '../common/lookups';
import { useNotify } from '../common/notify';
import { IsoPicker } from './IsoPicker';
import { useDataCenterOf, useDomainOptions, useTemplateOptions } from './lookups';
import { DiskRow, NicRow } from './rows';
import { Field } from './VmDetailPage';
import {
  BOOT_ORDERS,
  emptyVmForm,
  newDiskRow,
  newNicRow,
  stepOfField,
  toCdrom,
  toSubmission,
  type VmForm,
} from './vmForm';

type Errors = Record<string, string>;

function Review(props: {
  form: VmForm;
  errors: Errors;
  general: string | null;
  templateName: string | undefined;
}) {
  const { form, errors, general } = props;
  const intl = useIntl();
  const { goToStepById } = useWizardContext();
  const cdrom = toCdrom(form);
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
        {form.source === 'template' ? (
          <>
            <Field id="vmx.field.template">{props.templateName ?? '—'}</Field>
            <Field id="vmx.field.clone">
              <FormattedMessage id={`vmx.clone.${form.clone}`} />
            </Field>
          </>
        ) : (
          <>
            <Field id="field.cpus">{form.cpus}</Field>
            <Field id="field.memoryMib">{form.memory_mib}</Field>
            <Field id="field.osType">{form.os_type}</Field>
            <Field id="vmx.field.console">
              <FormattedMessage id={`vmx.console.${form.console}`} />
            </Field>
            <Field id="tab.disks">
              {form.disks.map((d) => `${d.size_gib} GiB ${d.format} ${d.interface}`).join('; ') || '—'}
            </Field>
            <Field id="tab.nics">
              {form.nics
                .map((n) => (n.kind === 'bridge' ? n.bridge : intl.formatMessage({ id: 'nic.user' })))
                .join('; ') || '—'}
            </Field>
            <Field id="field.cdrom">{cdrom?.file ?? cdrom?.image ?? '—'}</Field>
            <Field id="field.bootOrder">{form.boot_order.split(',').join(' → ')}</Field>
          </>
        )}
      </DescriptionList>
    </>
  );
}

/**
 * Create a VM: general (blank or from a template) → disks → NICs → CD/boot → review; a clone of a
 * template skips the hardware steps (it gets the template's). Nothing is second-guessed in the
 * browser: the engine validates, and its messages appear next to the fields they name (and the
 * steps holding them are marked), so the rules live in one place.
 */
export function CreateVmWizard() {
  const intl = useIntl();
  const navigate = useNavigate();
  const notify = useNotify();
  const queries = useQueryClient();
  const [params] = useSearchParams();
  const clusters = useOptions('clusters');
  const templates = useTemplateOptions();
  const [form, setForm] = useState<VmForm>(() => {
    const template = params.get('template');
    return template ? { ...emptyVmForm(), source: 'template', template_id: template } : emptyVmForm();
  });
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const datacenterId = useDataCenterOf(form.cluster_id);
  const dataDomains = useDomainOptions(datacenterId, 'data');
  // Whether new disks are encrypted unless unticked (the engine's disks.encrypt_by_default).
  const diskDefaults = useLiveObject<DiskDefaults>('disks', 'defaults');
  const t = (id: string) => intl.formatMessage({ id });
  const fromTemplate = form.source === 'template';

  useEffect(() => {
    const first = clusters[0];
    if (!form.cluster_id && first) setForm((f) => ({ ...f, cluster_id: first.value }));
  }, [clusters, form.cluster_id]);
  useEffect(() => {
    const first = templates[0];
    if (fromTemplate && !form.template_id && first) setForm((f) => ({ ...f, template_id: first.value }));
  }, [templates, fromTemplate, form.template_id]);

  const set = <K extends keyof VmForm>(k: K, v: VmForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const stepStatus = (step: string) =>
    Object.keys(errors).some((f) => stepOfField(f) === step) ? ('error' as const) : ('default' as const);

  const submit = async () => {
    setBusy(true);
    setGeneral(null);
    setErrors({});
    try {
      const { path, body } = toSubmission(form);
      // POST /vms answers 201 with the VM; a clone 202 with {operation, vm}: both name the VM.
      const res = await api.request<{ id?: string; vm?: { id: string } }>('POST', path, { body });
      const id = res.body?.vm?.id ?? res.body?.id;
      await refresh(queries, 'vms');
      notify({ variant: 'success', title: intl.formatMessage({ id: 'vm.created' }, { name: form.name }) });
      navigate(id ? `/vms/${id}` : '/vms');
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
            <FormGroup label={t('vmx.field.source')} fieldId="vm-source" role="radiogroup" isInline>
              <Radio
                id="vm-source-blank"
                name="vm-source"
                label={t('vmx.source.blank')}
                isChecked={!fromTemplate}
                onChange={() => set('source', 'blank')}
              />
              <Radio
                id="vm-source-template"
                name="vm-source"
                label={t('vmx.source.template')}
                isChecked={fromTemplate}
                onChange={() => set('source', 'template')}
              />
            </FormGroup>
            {fromTemplate && (
              <>
                <FormGroup label={t('vmx.field.template')} fieldId="vm-template" isRequired>
                  <FormSelect
                    id="vm-template"
                    value={form.template_id}
                    onChange={(_e, v) => set('template_id', v)}
                  >
                    {templates.length === 0 && <FormSelectOption value="" label={t('vmx.noTemplates')} />}
                    {templates.map((o) => (
                      <FormSelectOption key={o.value} value={o.value} label={o.label} />
                    ))}
                  </FormSelect>
                </FormGroup>
                <FormGroup label={t('vmx.field.clone')} fieldId="vm-clone" role="radiogroup" isInline>
                  <Radio
                    id="vm-clone-thin"
                    name="vm-clone"
                    label={t('vmx.clone.thin')}
                    isChecked={form.clone === 'thin'}
                    onChange={() => set('clone', 'thin')}
                  />
                  <Radio
                    id="vm-clone-full"
                    name="vm-clone"
                    label={t('vmx.clone.full')}
                    isChecked={form.clone === 'full'}
                    onChange={() => set('clone', 'full')}
                  />
                  <FieldError message={errors.clone} />
                </FormGroup>
              </>
            )}
            <FormGroup label={t('field.name')} fieldId="vm-name" isRequired>
              <TextInput
                id="vm-name"
                value={form.name}
                onChange={(_e, v) => set('name', v)}
                validated={validated(errors.name)}
              />
              <FieldError message={errors.name} />
            </FormGroup>
            {!fromTemplate && (
              <>
                <FormGroup label={t('field.cluster')} fieldId="vm-cluster" isRequired>
                  <FormSelect
                    id="vm-cluster"
                    value={form.cluster_id}
                    onChange={(_e, v) =>
                      // Domains belong to a data center: another cluster may mean other domains.
                      setForm((f) => ({
                        ...f,
                        cluster_id: v,
                        iso_domain_id: '',
                        cdrom: f.iso_domain_id ? '' : f.cdrom,
                        disks: f.disks.map((d) => ({ ...d, storage_domain_id: '' })),
                      }))
                    }
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
                <FormGroup label={t('vmx.field.console')} fieldId="vm-console-type">
                  <FormSelect
                    id="vm-console-type"
                    value={form.console}
                    onChange={(_e, v) => set('console', v as VmForm['console'])}
                    validated={validated(errors.console)}
                  >
                    {VM_CONSOLE_TYPES.map((c) => (
                      <FormSelectOption key={c} value={c} label={t(`vmx.console.${c}`)} />
                    ))}
                  </FormSelect>
                  <FieldError message={errors.console} />
                </FormGroup>
              </>
            )}
          </Form>
        </WizardStep>
        <WizardStep name={t('tab.disks')} id="disks" status={stepStatus('disks')} isHidden={fromTemplate}>
          <Form>
            <FieldError message={errors.disks} />
            {form.disks.map((d, i) => (
              <DiskRow
                // biome-ignore lint/suspicious/noArrayIndexKey: new disks have no id yet; position is identity
                key={i}
                id={`disk-${i}`}
                value={d}
                onChange={(patch) => disk(i, patch)}
                onRemove={() =>
                  set(
                    'disks',
                    form.disks.filter((_, j) => j !== i),
                  )
                }
                dataDomains={dataDomains}
                errors={errors}
                prefix={`disks.${i}.`}
                encryptByDefault={diskDefaults.data?.encrypted ?? false}
              />
            ))}
            <Button
              variant="secondary"
              id="add-disk"
              isDisabled={form.disks.length >= VM_MAX_DISKS}
              onClick={() => set('disks', [...form.disks, newDiskRow()])}
            >
              <FormattedMessage id="wizard.addDisk" />
            </Button>
          </Form>
        </WizardStep>
        <WizardStep name={t('tab.nics')} id="nics" status={stepStatus('nics')} isHidden={fromTemplate}>
          <Form>
            <FieldError message={errors.nics} />
            {form.nics.map((n, i) => (
              <NicRow
                // biome-ignore lint/suspicious/noArrayIndexKey: new NICs have no id; position is identity
                key={i}
                id={`nic-${i}`}
                value={n}
                onChange={(patch) =>
                  set(
                    'nics',
                    form.nics.map((x, j) => (j === i ? { ...x, ...patch } : x)),
                  )
                }
                onRemove={() =>
                  set(
                    'nics',
                    form.nics.filter((_, j) => j !== i),
                  )
                }
                errors={errors}
                prefix={`nics.${i}.`}
              />
            ))}
            <Button
              variant="secondary"
              id="add-nic"
              isDisabled={form.nics.length >= VM_MAX_NICS}
              onClick={() => set('nics', [...form.nics, newNicRow()])}
            >
              <FormattedMessage id="wizard.addNic" />
            </Button>
          </Form>
        </WizardStep>
        <WizardStep name={t('wizard.boot')} id="boot" status={stepStatus('boot')} isHidden={fromTemplate}>
          <Form>
            <IsoPicker
              datacenterId={datacenterId}
              domainId={form.iso_domain_id}
              file={form.cdrom}
              onChange={(iso_domain_id, cdrom) => setForm((f) => ({ ...f, iso_domain_id, cdrom }))}
              error={
                errors['cdrom.file'] ??
                errors['cdrom.image'] ??
                errors['cdrom.storage_domain_id'] ??
                errors.cdrom
              }
            />
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
          <Review
            form={form}
            errors={errors}
            general={general}
            templateName={templates.find((o) => o.value === form.template_id)?.label}
          />
        </WizardStep>
      </Wizard>
    </PageSection>
  );
}
