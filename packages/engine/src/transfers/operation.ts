import type { ErrorCode } from '@vireo/api';
import type { OperationHandler, OperationRegistry } from '../operations';
import { SYSTEM_ACTOR } from '../services/actor';
import { VireoError } from '../errors';
import type { TransferService } from './service';

/** Checks the row at least this often even without a change notification (another engine, a restart). */
const POLL_MS = 2000;
const CANCEL_GRACE_MS = 10_000;

/**
 * The operation that follows a transfer: progress is bytes_done / size_bytes (live while a request
 * streams), it succeeds when the transfer finishes and fails with the transfer's error code.
 * Cancelling the operation cancels the transfer. Resumable: after an engine restart it simply
 * follows the row again (the client resumes the upload at `bytes_done`).
 */
export function transferOperationHandler(transfers: TransferService): OperationHandler {
  return {
    resumable: true,
    async run(ctx) {
      const id = String(ctx.op.input.transfer_id ?? '');
      for (;;) {
        const row = await transfers.get(id);
        if (row.state === 'finished') {
          await ctx.progress(1, 'finished');
          return { transfer_id: id, sha256: row.sha256, size_bytes: row.size_bytes };
        }
        if (row.state === 'cancelled' && !ctx.signal.aborted) {
          // A DELETE on the transfer also cancels this operation; give that a moment to arrive so
          // the operation ends cancelled rather than failed.
          await transfers.changed(id, CANCEL_GRACE_MS, ctx.signal);
          ctx.signal.throwIfAborted();
        }
        if (row.state === 'failed' || row.state === 'cancelled') {
          const e = row.error ?? { code: 'operation_finished', message: `the transfer was ${row.state}` };
          throw new VireoError(400, e.code as ErrorCode, e.message, { details: e.details ?? {} });
        }
        if (ctx.signal.aborted) {
          // Cancelled by DELETE /operations/{id} (or the engine is stopping: then leave the transfer be).
          if ((ctx.signal.reason as { why?: string } | undefined)?.why === 'cancelled') {
            await transfers.cancel(SYSTEM_ACTOR, id, 'the operation was cancelled').catch(() => undefined);
          }
          ctx.signal.throwIfAborted();
        }
        const done = Math.max(row.bytes_done, transfers.liveBytes(id) ?? 0);
        const fraction = row.size_bytes > 0 ? Math.min(0.99, done / row.size_bytes) : 0;
        await ctx.progress(fraction, `${row.state}: ${done} of ${row.size_bytes} bytes`);
        await transfers.changed(id, transfers.liveBytes(id) !== undefined ? 1000 : POLL_MS, ctx.signal);
      }
    },
  };
}

/** Registers the handlers of both transfer operation types. */
export function registerTransferOperations(registry: OperationRegistry, transfers: TransferService): void {
  registry.register('image_transfer.upload', transferOperationHandler(transfers));
  registry.register('image_transfer.download', transferOperationHandler(transfers));
}
