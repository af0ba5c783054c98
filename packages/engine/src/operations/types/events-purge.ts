import { EVENTS_PURGE_MIN_AGE_MS } from '@vireo/api';
import { countEventsBefore, deleteEventsBefore } from '../../db/repositories/events';
import type { Db } from '../../db/schema';
import { InvalidInput } from '../../errors';
import type { Audit } from '../../events/audit';
import type { OperationHandler } from '../registry';

export const EVENTS_PURGE = 'events.purge';

/**
 * Checks a purge cut-off: a valid time at least {@link EVENTS_PURGE_MIN_AGE_MS} ago, so nobody
 * wipes today's audit trail by a slip of the keyboard.
 */
export function parsePurgeBefore(value: string, now = Date.now()): Date {
  const before = new Date(value);
  if (Number.isNaN(before.getTime())) {
    throw new InvalidInput(
      'invalid_input',
      `"before" is not a valid RFC 3339 time: ${JSON.stringify(value)}`,
      {
        details: { field: 'before' },
      },
    );
  }
  const latest = new Date(now - EVENTS_PURGE_MIN_AGE_MS);
  if (before.getTime() > latest.getTime()) {
    throw new InvalidInput(
      'purge_before_too_recent',
      `"before" must be at least 24 hours ago (${latest.toISOString()} or earlier); events of the last day cannot be purged`,
      { details: { before: before.toISOString(), latest_allowed: latest.toISOString() } },
    );
  }
  return before;
}

/**
 * `events.purge`: deletes events older than `input.before` in batches, one transaction each, so a
 * large purge neither holds locks for long nor loses its work when interrupted. Resumable: a rerun
 * just deletes what is still there. Cancellable between batches.
 */
export function eventsPurgeHandler(deps: { db: Db; audit: Audit; batchSize?: number }): OperationHandler {
  const batchSize = deps.batchSize ?? 1000;
  return {
    resumable: true,
    async run({ op, signal, progress }) {
      const before = new Date(String(op.input.before));
      if (Number.isNaN(before.getTime())) {
        throw new InvalidInput('invalid_input', 'the operation has no valid "before" time');
      }
      // A resumed run continues from the progress the interrupted one reached.
      const base = op.progress;
      const total = await countEventsBefore(deps.db, before);
      let deleted = 0;
      await progress(base, `${total} events to delete`);
      for (;;) {
        signal.throwIfAborted();
        const n = await deps.db.transaction().execute((trx) => deleteEventsBefore(trx, before, batchSize));
        deleted += n;
        if (n < batchSize) break;
        const fraction = total > 0 ? Math.min(1, deleted / total) : 1;
        await progress(base + (1 - base) * fraction, `${deleted} of ${total} events deleted`);
      }
      await deps.db.transaction().execute((trx) =>
        deps.audit.record(trx, {
          kind: 'events.purged',
          severity: 'audit',
          message: `Deleted ${deleted} audit events older than ${before.toISOString()}.`,
          operationId: op.id,
          userId: op.created_by,
          details: { before: before.toISOString(), deleted },
        }),
      );
      return { before: before.toISOString(), deleted };
    },
  };
}
