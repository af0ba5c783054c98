import { FormHelperText, HelperText, HelperTextItem } from '@patternfly/react-core';

/** The API's message for one field, under the field (nothing when the field is fine). */
export function FieldError({ message, id }: { message: string | undefined; id?: string }) {
  if (!message) return null;
  return (
    <FormHelperText>
      <HelperText>
        <HelperTextItem variant="error" id={id} data-testid="field-error">
          {message}
        </HelperTextItem>
      </HelperText>
    </FormHelperText>
  );
}

/** `'error'` when the field has a message, for PF's `validated` prop. */
export const validated = (message: string | undefined) => (message ? 'error' : 'default');
