import { Button, ModalFooter } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';
import type { FormSubmit } from './formSubmit';

/**
 * A form modal's footer: the submit button (spinning and disabled while the form sends) and the
 * button that closes the modal. Once the form's work is `done` (the modal then shows its result)
 * only the close button is left, labelled `closeLabelId`.
 */
export function FormFooter(props: {
  submitButtonId: string;
  submitLabelId: string;
  form: Pick<FormSubmit, 'busy' | 'submit'>;
  onClose(): void;
  done?: boolean;
  closeButtonId?: string;
  closeLabelId?: string;
}) {
  const { busy, submit } = props.form;
  return (
    <ModalFooter>
      {!props.done && (
        <Button
          id={props.submitButtonId}
          variant="primary"
          onClick={() => void submit()}
          isLoading={busy}
          isDisabled={busy}
        >
          <FormattedMessage id={props.submitLabelId} />
        </Button>
      )}
      <Button id={props.closeButtonId} variant="link" onClick={props.onClose}>
        <FormattedMessage id={props.done ? (props.closeLabelId ?? 'common.cancel') : 'common.cancel'} />
      </Button>
    </ModalFooter>
  );
}
