import type { Logger } from 'pino';
import { type LeasedJob, processHolderId, runLeased } from '../controllers/lease';
import {
  OPERATIONS_CHANNEL,
  type Outcome,
  type OperationRow,
  claimPending,
  finishOperation,
  lockExpiredLeases,
  notifyOperation,
  notifyOperations,
  renewLeases,
  requeueOperation,
  updateProgress,
} from '../db/repositories/operations';
import type { Db } from '../db/schema';
import type { OperationErrorJson } from '../db/tables/operations';
import { isVireoError } from '../errors';
import type { Audit } from '../events/audit';
import type { PgListener } from '../events/listener';
import type { ProgressSink } from '../events/progress';
import { operationEvent } from './audit-events';
import type { OperationRegistry } from './registry';
import { parseNotification } from './service';
import { toOperationJson } from './wire';

export interface OperationRunnerOptions {
  db: Db;
  log: Logger;
  registry: OperationRegistry;
  audit: Audit;
  listener: PgListener;
  /** Where live progress goes (ephemeral `operation.progress` stream frames); none: only the row. */
  progress?: ProgressSink;
  /** Lease holder name; default unique per process. */
  holder?: string;
  /** How long a claim lasts without renewal (renewed every third of it). Default 30 s. */
  leaseMs?: number;
  /** Look for pending work this often even without a NOTIFY. Default 5 s. */
  pollMs?: number;
  /**
   * Operations run at once by this engine. Default 32: most operations spend their time waiting on
   * agents and QEMU, not on this process, and a small cap made 50 VM starts queue in waves of 4.
   * The database pool still bounds how many talk to PostgreSQL at the same moment.
   */
  concurrency?: number;
  /** How often the (leased) sweep of expired leases runs. Default half the lease. */
  sweepIntervalMs?: number;
  /** A resumable operation interrupted this many times fails instead of resuming. Default 5. */
  maxAttempts?: number;
  /** On stop, how long running handlers may take to finish before they are aborted. Default 5 s. */
  stopGraceMs?: number;
}

/** Why a handler's signal was aborted; decides what the runner records. */
const DEFAULT_CONCURRENCY = 32;
/** Most operations one claim transaction takes (keeps each transaction short). */
const CLAIM_BATCH = 16;

export class RunAbort extends Error {
  constructor(readonly why: 'cancelled' | 'shutdown' | 'lease_lost') {
    super(
      why === 'cancelled'
        ? 'the operation was cancelled'
        : why === 'shutdown'
          ? 'the engine is shutting down'
          : 'this engine no longer holds the operation',
    );
    this.name = 'RunAbort';
  }
}

interface Running {
  row: OperationRow;
  /** When the claim had committed (Date.now()). */
  claimedAt: number;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Claims pending operations (`FOR UPDATE SKIP LOCKED`, so engines sharing a database never run one
 * twice), runs their handlers, renews their leases while they run, and records the outcome. A
 * leased periodic sweep takes care of operations whose engine died: resumable ones are queued
 * again, the others fail with `engine_restarted`, so nothing stays `running` forever.
 */
export class OperationRunner {
  readonly holder: string;
  private readonly running = new Map<string, Running>();
  private readonly log: Logger;
  private readonly leaseMs: number;
  private active = false;
  private claiming = false;
  private claimPass: Promise<void> | undefined;
  private claimAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private sweepJob: LeasedJob | undefined;
  private unlisten: (() => void)[] = [];

  constructor(private readonly opts: OperationRunnerOptions) {
    this.holder = opts.holder ?? processHolderId();
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.log = opts.log.child({ module: 'engine:operation-runner', holder: this.holder });
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.unlisten.push(
      this.opts.listener.on(OPERATIONS_CHANNEL, (payload) => {
        const n = parseNotification(payload);
        if (n?.state === 'pending') this.kick();
        else if (n?.state === 'cancel') this.running.get(n.id)?.controller.abort(new RunAbort('cancelled'));
      }),
      this.opts.listener.onReconnect(() => {
        this.kick();
        void this.renew();
      }),
    );
    this.renewTimer = setInterval(() => void this.renew(), Math.max(20, this.leaseMs / 3));
    this.renewTimer.unref();
    const sweepMs = this.opts.sweepIntervalMs ?? Math.max(100, this.leaseMs / 2);
    this.sweepJob = runLeased(this.opts.db, 'operations.sweep', sweepMs, () => this.sweep(), {
      holder: this.holder,
      log: this.opts.log,
      // If the sweeping engine dies, another takes the sweep over about as fast as it takes over
      // that engine's operations.
      leaseMs: Math.max(this.leaseMs, sweepMs * 2),
    });
    this.poll();
  }

  /**
   * Stops claiming, lets running handlers finish for `stopGraceMs`, then aborts them: a resumable
   * one goes back to the queue for another engine (or this one after restart), the others fail
   * with `engine_restarted`.
   */
  async stop(): Promise<void> {
    if (!this.active) return;
    // Claim nothing more, but keep renewing leases and hearing cancels while handlers finish.
    this.active = false;
    clearTimeout(this.pollTimer);
    // A claim in flight still launches its operation; wait for it so it is stopped too.
    await this.claimPass;
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((r) => {
      timer = setTimeout(r, this.opts.stopGraceMs ?? 5000);
    });
    await Promise.race([all(), grace]);
    clearTimeout(timer);
    for (const r of this.running.values()) r.controller.abort(new RunAbort('shutdown'));
    await all();
    this.halt();
    await this.sweepJob?.stop();
  }

  /**
   * Stops dead, writing nothing more to the database — what a SIGKILLed engine leaves behind (its
   * leases simply expire). Handlers are aborted so their promises settle. For crash tests.
   */
  async abandon(): Promise<void> {
    this.active = false;
    this.halt();
    await this.claimPass;
    for (const r of this.running.values()) r.controller.abort(new RunAbort('lease_lost'));
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.sweepJob?.stop({ release: false });
  }

  /** Ids of the operations this runner is running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Looks for pending work now. */
  kick(): void {
    if (!this.active) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claimPass = this.claimLoop();
  }

  /** Runs the expired-lease sweep now (normally periodic and leased). */
  sweepNow(): Promise<boolean> {
    return this.sweepJob?.runNow() ?? Promise.resolve(false);
  }

  private halt(): void {
    clearTimeout(this.pollTimer);
    clearInterval(this.renewTimer);
    for (const u of this.unlisten.splice(0)) u();
  }

  private poll(): void {
    this.kick();
    this.pollTimer = setTimeout(() => this.poll(), this.opts.pollMs ?? 5000);
    this.pollTimer.unref();
  }

  private async claimLoop(): Promise<void> {
    this.claiming = true;
    try {
      do {
        this.claimAgain = false;
        const cap = this.opts.concurrency ?? DEFAULT_CONCURRENCY;
        while (this.active && this.running.size < cap) {
          // Claimed in batches: one at a time kept a burst of 50 VM starts waiting seconds for
          // their turn (each claim is a transaction of several round trips).
          const want = Math.min(cap - this.running.size, CLAIM_BATCH);
          const rows = await this.claim(want);
          for (const row of rows) this.launch(row);
          if (rows.length < want) break;
        }
      } while (this.claimAgain && this.active);
    } catch (err) {
      this.log.warn({ err }, 'claiming operations failed; will retry');
    } finally {
      this.claiming = false;
    }
  }

  private claim(limit: number): Promise<OperationRow[]> {
    return this.opts.db.transaction().execute(async (trx) => {
      const rows = await claimPending(trx, this.holder, this.opts.registry.types(), this.leaseMs, limit);
      // One statement for the batch's audit events and one for its NOTIFYs: per row they were
      // three round trips each, serial inside this transaction, so a claim of 16 held its rows
      // (and delayed all 16 handlers) for ~50 round trips; in a burst of 50 VM starts on a busy
      // machine that was 0.1–0.5 s per batch.
      await this.opts.audit.recordMany(
        trx,
        rows.map((row) => operationEvent(row, 'started')),
      );
      await notifyOperations(
        trx,
        rows.map((row) => row.id),
        'running',
      );
      return rows;
    });
  }

  private launch(row: OperationRow): void {
    const controller = new AbortController();
    const entry: Running = { row, claimedAt: Date.now(), controller, done: Promise.resolve() };
    entry.done = this.execute(row, controller)
      .catch((err) => this.log.error({ err, operationId: row.id }, 'recording an operation outcome failed'))
      .finally(() => {
        this.running.delete(row.id);
        this.kick();
      });
    this.running.set(row.id, entry);
  }

  private async execute(row: OperationRow, controller: AbortController): Promise<void> {
    const handler = this.opts.registry.get(row.type)!;
    const log = this.opts.log.child({ module: 'engine:operation', operationId: row.id, type: row.type });
    const signal = controller.signal;
    // A cancel requested between the claim and now (or before a resume) still counts.
    if (row.cancel_requested) controller.abort(new RunAbort('cancelled'));
    const progress = this.progressWriter(row, controller, log);
    let outcome: Outcome;
    try {
      const result = await handler.run({ op: toOperationJson(row), signal, progress: progress.write, log });
      outcome = { state: 'succeeded', result: result ?? null };
    } catch (err) {
      const why = signal.aborted && signal.reason instanceof RunAbort ? signal.reason.why : undefined;
      if (why === 'lease_lost') {
        log.warn('stopped running an operation this engine no longer holds');
        return;
      }
      if (why === 'shutdown') {
        await progress.settled();
        await this.release(row, handler.resumable);
        return;
      }
      if (why === 'cancelled') outcome = { state: 'cancelled' };
      else {
        outcome = { state: 'failed', error: toOperationError(err, row.id) };
        if (!isVireoError(err)) log.error({ err }, 'operation failed unexpectedly');
      }
    }
    await progress.settled();
    // No progress frame after the final event (a late frame would not move a finished bar anyway).
    this.opts.progress?.forget(row.id);
    if (signal.aborted && signal.reason instanceof RunAbort && signal.reason.why === 'lease_lost') return;
    await this.record(row.id, outcome);
  }

  private async record(id: string, outcome: Outcome): Promise<void> {
    await this.opts.db.transaction().execute(async (trx) => {
      const done = await finishOperation(trx, id, outcome, { holder: this.holder, fromStates: ['running'] });
      if (!done) {
        this.log.warn(
          { operationId: id },
          'operation was taken over before it finished here; outcome dropped',
        );
        return;
      }
      await this.opts.audit.record(trx, operationEvent(done, outcome.state));
      await notifyOperation(trx, id, outcome.state);
    });
  }

  /** On shutdown: hand a resumable operation back to the queue, fail the others. */
  private async release(row: OperationRow, resumable: boolean): Promise<void> {
    if (!resumable) {
      await this.record(row.id, { state: 'failed', error: engineRestartedError(row) });
      return;
    }
    await this.opts.db.transaction().execute(async (trx) => {
      const back = await requeueOperation(trx, row.id);
      if (!back) return;
      await this.opts.audit.record(trx, operationEvent(back, 'resumed'));
      await notifyOperation(trx, row.id, 'pending');
    });
  }

  /** Coalesces progress writes: at most one in flight, the latest value wins. */
  private progressWriter(row: OperationRow, controller: AbortController, log: Logger) {
    const id = row.id;
    let next: { fraction: number; message: string | null } | undefined;
    let writing: Promise<void> | undefined;
    const flush = async () => {
      while (next) {
        const { fraction, message } = next;
        next = undefined;
        try {
          const status = await updateProgress(this.opts.db, id, this.holder, fraction, message);
          if (!controller.signal.aborted && status !== 'held') {
            controller.abort(new RunAbort(status === 'lost' ? 'lease_lost' : 'cancelled'));
          }
          // Published after the row holds it, so a reader refetching on a frame sees at least it.
          if (status === 'held') {
            this.opts.progress?.publish({
              id,
              type: row.type,
              target_kind: row.target_kind,
              target_id: row.target_id,
              progress: fraction,
              message,
            });
          }
        } catch (err) {
          log.warn({ err }, 'recording progress failed');
        }
      }
      writing = undefined;
    };
    return {
      write: (fraction: number, message?: string): Promise<void> => {
        const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
        next = { fraction: f, message: message?.slice(0, 1024) ?? null };
        writing ??= flush();
        return writing;
      },
      settled: async () => {
        while (writing) await writing;
      },
    };
  }

  /** Extends the leases of everything running here; aborts what was taken over or cancelled. */
  private async renew(): Promise<void> {
    if (this.running.size === 0) return;
    let held: { id: string; cancel_requested: boolean }[];
    const renewStartedAt = Date.now();
    try {
      held = await renewLeases(this.opts.db, this.holder, this.leaseMs);
    } catch (err) {
      // The lease outlives a few failed renewals; the sweep decides if the database stays away.
      this.log.warn({ err }, 'renewing operation leases failed');
      return;
    }
    const byId = new Map(held.map((h) => [h.id, h]));
    for (const [id, r] of this.running) {
      const h = byId.get(id);
      if (!h) {
        // Claimed after the renewal query began, it may simply not have been visible to it.
        if (r.claimedAt < renewStartedAt) r.controller.abort(new RunAbort('lease_lost'));
      } else if (h.cancel_requested) r.controller.abort(new RunAbort('cancelled'));
    }
  }

  /** Handles running operations whose lease expired (their engine died or hung). */
  private async sweep(): Promise<void> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    for (;;) {
      const n = await this.opts.db.transaction().execute(async (trx) => {
        const expired = await lockExpiredLeases(trx, 50);
        for (const row of expired) {
          const handler = this.opts.registry.get(row.type);
          if (handler?.resumable && row.attempts < maxAttempts && !row.cancel_requested) {
            const back = await requeueOperation(trx, row.id);
            if (!back) continue;
            this.log.warn(
              { operationId: row.id, previousHolder: row.claimed_by },
              'resuming an orphaned operation',
            );
            await this.opts.audit.record(trx, operationEvent(back, 'resumed'));
            await notifyOperation(trx, row.id, 'pending');
            continue;
          }
          const outcome: Outcome = row.cancel_requested
            ? { state: 'cancelled' }
            : {
                state: 'failed',
                error: handler?.resumable ? retriesExhaustedError(row) : engineRestartedError(row),
              };
          const done = await finishOperation(trx, row.id, outcome, { fromStates: ['running'] });
          if (!done) continue;
          this.log.warn(
            { operationId: row.id, previousHolder: row.claimed_by },
            'failing an orphaned operation',
          );
          await this.opts.audit.record(trx, operationEvent(done, outcome.state));
          await notifyOperation(trx, row.id, outcome.state);
        }
        return expired.length;
      });
      if (n < 50) return;
    }
  }
}

function engineRestartedError(row: OperationRow): OperationErrorJson {
  const target = row.target_kind ? ` Check the state of ${row.target_kind} ${row.target_id} and` : ' You may';
  return {
    code: 'engine_restarted',
    message:
      `The engine running this ${row.type} operation stopped before it finished, and this kind of ` +
      `operation cannot resume by itself.${target} start it again if it is still needed.`,
    details: { previous_engine: row.claimed_by, attempts: row.attempts },
  };
}

function retriesExhaustedError(row: OperationRow): OperationErrorJson {
  return {
    code: 'operation_retries_exhausted',
    message:
      `This ${row.type} operation was interrupted ${row.attempts} times (its engine kept stopping) and ` +
      'was given up. Check the engine logs for crashes, then start it again.',
    details: { previous_engine: row.claimed_by, attempts: row.attempts },
  };
}

/** A handler's error as the operation's `error`: coded errors keep their code; others are hidden. */
export function toOperationError(err: unknown, id: string): OperationErrorJson {
  if (isVireoError(err)) {
    return {
      code: err.code,
      message: err.message,
      ...(Object.keys(err.details).length ? { details: err.details } : {}),
    };
  }
  return {
    code: 'internal_error',
    message: `The operation failed unexpectedly; the engine log has the details (operation ${id}).`,
  };
}
