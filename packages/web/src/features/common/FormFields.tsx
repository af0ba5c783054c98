import { FormGroup, FormSelect, FormSelectOption, TextInput } from '@patternfly/react-core';
import { FieldError, validated } from './FieldError';

/**
 * A labelled select whose API error shows under it — the shape every dialog that picks a cluster or
 * a storage domain repeats.
 */
export function SelectField(props: {
  id: string;
  label: string;
  value: string;
  options: { value: string; label: string }[];
  onChange(value: string): void;
  error?: string | undefined;
  isRequired?: boolean;
}) {
  return (
    <FormGroup label={props.label} fieldId={props.id} isRequired={props.isRequired ?? false}>
      <FormSelect
        id={props.id}
        value={props.value}
        onChange={(_e, x) => props.onChange(x)}
        validated={validated(props.error)}
      >
        {props.options.map((o) => (
          <FormSelectOption key={o.value} value={o.value} label={o.label} />
        ))}
      </FormSelect>
      <FieldError message={props.error} />
    </FormGroup>
  );
}

/** A labelled text input whose API error shows under it. */
export function TextField(props: {
  id: string;
  label: string;
  value: string;
  onChange(value: string): void;
  error?: string | undefined;
  isRequired?: boolean;
  /** `numeric` for a number typed as text (sizes), so phones show digits. */
  inputMode?: 'numeric';
}) {
  return (
    <FormGroup label={props.label} fieldId={props.id} isRequired={props.isRequired ?? false}>
      <TextInput
        id={props.id}
        inputMode={props.inputMode}
        value={props.value}
        onChange={(_e, x) => props.onChange(x)}
        validated={validated(props.error)}
      />
      <FieldError message={props.error} />
    </FormGroup>
  );
}
