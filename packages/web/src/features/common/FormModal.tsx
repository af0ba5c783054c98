import {
  Alert,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Modal,
  ModalBody,
  ModalHeader,
  TextArea,
  TextInput,
} from '@patternfly/react-core';
import { type ReactNode, useState } from 'react';
import { useIntl } from 'react-intl';
import { FieldError, validated } from './FieldError';
import { useFormSubmit } from './formSubmit';
import { FormFooter } from './FormFooter';

export interface FormField {
  name: string;
  labelId: string;
  type?: 'text' | 'textarea' | 'select' | 'password' | 'number';
  options?: { value: string; label: string }[];
  required?: boolean;
  helperId?: string;
}

export type FormValues = Record<string, string>;

/**
 * A create/edit form in a modal. Values go to the engine as typed; its validation messages appear
 * under the fields they name (`error.details`), anything else above the form.
 */
export function FormModal(props: {
  titleId: string;
  submitId: string;
  fields: FormField[];
  initial: FormValues;
  onSubmit(values: FormValues): Promise<unknown>;
  onClose(): void;
  children?: ReactNode;
}) {
  const intl = useIntl();
  const [values, setValues] = useState<FormValues>(props.initial);
  const { errors, general, busy, submit } = useFormSubmit(
    props.fields.map((f) => f.name),
    async () => {
      await props.onSubmit(values);
      props.onClose();
    },
  );

  return (
    <Modal variant="medium" isOpen onClose={props.onClose} aria-labelledby="form-modal-title">
      <ModalHeader title={intl.formatMessage({ id: props.titleId })} labelId="form-modal-title" />
      <ModalBody>
        {general && <Alert isInline variant="danger" title={general} data-testid="form-error" />}
        <Form id="object-form" onSubmit={submit}>
          {props.fields.map((f) => {
            const id = `field-${f.name}`;
            const v = values[f.name] ?? '';
            const set = (x: string) => setValues((vs) => ({ ...vs, [f.name]: x }));
            return (
              <FormGroup
                key={f.name}
                label={intl.formatMessage({ id: f.labelId })}
                fieldId={id}
                isRequired={f.required}
              >
                {f.type === 'textarea' ? (
                  <TextArea
                    id={id}
                    value={v}
                    onChange={(_e, x) => set(x)}
                    validated={validated(errors[f.name])}
                    resizeOrientation="vertical"
                  />
                ) : f.type === 'select' ? (
                  <FormSelect
                    id={id}
                    value={v}
                    onChange={(_e, x) => set(x)}
                    validated={validated(errors[f.name])}
                  >
                    {(f.options ?? []).map((o) => (
                      <FormSelectOption key={o.value} value={o.value} label={o.label} />
                    ))}
                  </FormSelect>
                ) : (
                  <TextInput
                    id={id}
                    type={f.type === 'password' ? 'password' : 'text'}
                    inputMode={f.type === 'number' ? 'numeric' : undefined}
                    value={v}
                    onChange={(_e, x) => set(x)}
                    validated={validated(errors[f.name])}
                  />
                )}
                <FieldError message={errors[f.name]} />
              </FormGroup>
            );
          })}
          {props.children}
        </Form>
      </ModalBody>
      <FormFooter
        submitButtonId="form-submit"
        submitLabelId={props.submitId}
        form={{ busy, submit }}
        onClose={props.onClose}
      />
    </Modal>
  );
}

/** Only the fields that changed, for a PATCH; numbers typed as digits become numbers. */
export function changedFields(
  before: FormValues,
  after: FormValues,
  numeric: string[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    if (before[k] === v) continue;
    out[k] = numeric.includes(k) && /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
  }
  return out;
}
