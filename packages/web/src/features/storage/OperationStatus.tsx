import { OperationProgress } from '../operations/OperationProgress';

/**
 * An accepted operation's progress and outcome in a dialog, live from the event stream (progress
 * frames and the final event; nothing polls): the shared bar of features/operations, medium size.
 */
export function OperationStatus({ operationId }: { operationId: string }) {
  return <OperationProgress operationId={operationId} size="md" />;
}
