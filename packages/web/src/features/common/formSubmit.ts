import { type FormEvent, useState } from 'react';
import { fieldErrors } from '../../api';

/** What a form shows while and after it sends: the engine's messages and whether it is busy. */
export interface FormSubmit {
  /** The engine's messages by the field they name (`error.details`). */
  errors: Record<string, string>;
  /** A refusal that names none of the form's fields, shown above the form. */
  general: string | null;
  busy: boolean;
  /** Sends the form (as a `<Form onSubmit>` handler or from the submit button). */
  submit(e?: FormEvent): Promise<void>;
}

/**
 * The submit cycle every portal form shares: clear the old messages, run `send`, and on a refusal
 * put each field's message under that field — or, when the refusal names none of `fields` (the ones
 * the form shows), its message above the form so it is never lost. `adjust` may move a message to
 * the field that shows it (the engine's name for a field can differ from the form's).
 */
export function useFormSubmit(
  fields: readonly string[],
  send: () => Promise<void>,
  adjust?: (errors: Record<string, string>) => void,
): FormSubmit {
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      await send();
    } catch (err) {
      const f = fieldErrors(err);
      adjust?.(f);
      setErrors(f);
      if (!fields.some((k) => f[k])) setGeneral(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return { errors, general, busy, submit };
}
