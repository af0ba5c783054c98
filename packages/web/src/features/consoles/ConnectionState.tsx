import { Alert, Button } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';

/** Where a console's WebSocket is; both consoles show it the same way. */
export type ConsoleStatus = 'connecting' | 'connected' | 'disconnected' | 'failed';

/** The status text in a console's toolbar (`data-status` lets tests wait on it). */
export function ConsoleStatusText({ status, testId }: { status: ConsoleStatus; testId: string }) {
  return (
    <span data-testid={testId} data-status={status}>
      <FormattedMessage id={`consoles.status.${status}`} />
    </span>
  );
}

/**
 * Shown when a console lost or never got its connection. Reconnecting asks for a new ticket: a
 * ticket is single-use, so the old URL can never be reopened.
 */
export function ConnectionAlert(props: {
  status: ConsoleStatus;
  error: string | null;
  onReconnect: () => void;
}) {
  const { status, error, onReconnect } = props;
  if (status !== 'disconnected' && status !== 'failed') return null;
  return (
    <Alert
      isInline
      variant={status === 'failed' ? 'danger' : 'warning'}
      title={<FormattedMessage id={`consoles.${status}.title`} />}
      actionLinks={
        <Button variant="link" isInline onClick={onReconnect} data-testid="console-reconnect">
          <FormattedMessage id="consoles.reconnect" />
        </Button>
      }
    >
      {error}
    </Alert>
  );
}
