import { Button, Modal, ModalBody, ModalFooter, ModalHeader } from '@patternfly/react-core';
import type { ReactNode } from 'react';
import { FormattedMessage } from 'react-intl';

/** Asks before something that cannot be undone (delete, power off). */
export function ConfirmModal(props: {
  isOpen: boolean;
  title: ReactNode;
  body: ReactNode;
  confirmLabel: ReactNode;
  danger?: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  return (
    <Modal variant="small" isOpen={props.isOpen} onClose={props.onCancel} aria-labelledby="confirm-title">
      <ModalHeader
        title={props.title}
        labelId="confirm-title"
        titleIconVariant={props.danger ? 'warning' : undefined}
      />
      <ModalBody>{props.body}</ModalBody>
      <ModalFooter>
        <Button id="confirm-action" variant={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>
          {props.confirmLabel}
        </Button>
        <Button variant="link" onClick={props.onCancel}>
          <FormattedMessage id="common.cancel" />
        </Button>
      </ModalFooter>
    </Modal>
  );
}
