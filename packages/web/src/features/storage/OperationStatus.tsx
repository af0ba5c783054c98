import type { Operation } from '@vireo/client';
import { useLiveObject } from '../../api';
import { OperationRow } from '../operations/OperationsDrawer';

/**
 * An accepted operation's progress and outcome, live from the event stream (the engine emits an
 * event when an operation moves; nothing polls).
 */
export function OperationStatus({ operationId }: { operationId: string }) {
  const op = useLiveObject<Operation>('operations', operationId);
  if (!op.data) return null;
  return <OperationRow op={op.data} />;
}
