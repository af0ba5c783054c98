import type { EventSeverity } from '@vireo/api';
import type { OperationRow } from '../db/repositories/operations';
import type { AuditInput } from '../events/audit';

/** State changes (and requests) that the audit log records for every operation. */
export type OperationChange =
  | 'created'
  | 'started'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'cancel_requested'
  | 'resumed';

const SEVERITY: Record<OperationChange, EventSeverity> = {
  created: 'info',
  started: 'info',
  succeeded: 'info',
  failed: 'error',
  cancelled: 'warning',
  cancel_requested: 'audit',
  resumed: 'warning',
};

function describe(row: OperationRow, change: OperationChange): string {
  const what = row.target_kind ? `${row.type} on ${row.target_kind} ${row.target_id}` : row.type;
  switch (change) {
    case 'created':
      return `Operation ${what} was queued.`;
    case 'started':
      return row.attempts > 1
        ? `Operation ${what} started again (attempt ${row.attempts}).`
        : `Operation ${what} started.`;
    case 'succeeded':
      return `Operation ${what} succeeded.`;
    case 'failed':
      return `Operation ${what} failed: ${row.error?.message ?? 'no reason given'}`;
    case 'cancelled':
      return `Operation ${what} was cancelled.`;
    case 'cancel_requested':
      return `Cancellation of operation ${what} was requested.`;
    case 'resumed':
      return `Operation ${what} was interrupted (its engine stopped) and was queued to resume.`;
  }
}

/** The audit event for one operation change; `operation.<change>`, linked by operation_id. */
export function operationEvent(
  row: OperationRow,
  change: OperationChange,
  actor: { userId?: string | null; username?: string | null } = {},
): AuditInput {
  return {
    kind: `operation.${change}`,
    severity: SEVERITY[change],
    message: describe(row, change),
    object: row.target_kind ? { kind: row.target_kind, id: row.target_id } : null,
    userId: actor.userId ?? null,
    username: actor.username ?? null,
    operationId: row.id,
    details: {
      type: row.type,
      state: row.state,
      ...(row.error ? { error: row.error } : {}),
      ...(change === 'started' || change === 'resumed' ? { attempt: row.attempts } : {}),
    },
  };
}
