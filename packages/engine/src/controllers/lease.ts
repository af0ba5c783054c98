import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../db/schema';

export interface LeasedJobOptions {
  /** Who holds the lease; defaults to this process (`host:pid:random`). */
  holder?: string;
  /**
   * How long a lease lasts without renewal; another engine takes the job over after that.
   * Default: 3 × the interval, at least 5 s.
   */
  leaseMs?: number;
  log?: Logger;
  /** Run once right away instead of after the first interval. Default true. */
  runAtStart?: boolean;
}

export interface LeasedJob {
  /**
   * Stops the job: aborts and waits for a run in progress, then hands the lease back so another
   * engine takes over at once. `{release: false}` keeps the lease until it expires, as a crashed
   * engine would.
   */
  stop(opts?: { release?: boolean }): Promise<void>;
  /** Runs it now if this engine holds (or can take) the lease; resolves true if it ran. */
  runNow(): Promise<boolean>;
  /** Whether this engine held the lease at its last attempt. */
  readonly holding: boolean;
}

/** A name unique to this engine process, used as lease holder. */
export function processHolderId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * Runs `fn` every `intervalMs`, but only in the one engine that holds the job's lease in the
 * `job_leases` table — so several engines sharing a database do not all run the same periodic
 * job. The holder keeps the lease by renewing it; if it dies, the lease expires and another
 * engine's next attempt takes it over. `fn` gets a signal that aborts when the lease is lost or
 * the job stops. Runs never overlap, even within one engine.
 */
export function runLeased(
  db: Db,
  name: string,
  intervalMs: number,
  fn: (signal: AbortSignal) => Promise<void>,
  opts: LeasedJobOptions = {},
): LeasedJob {
  const holder = opts.holder ?? processHolderId();
  const leaseMs = opts.leaseMs ?? Math.max(5000, intervalMs * 3);
  const log = opts.log?.child({ module: 'engine:leased-job', job: name });
  let stopped = false;
  let holding = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<boolean> | undefined;
  let controller: AbortController | undefined;

  const acquire = async (): Promise<boolean> => {
    const r = await sql<{ holder: string }>`
      INSERT INTO job_leases (name, holder, lease_until, last_started_at)
      VALUES (${name}, ${holder}, now() + make_interval(secs => ${leaseMs / 1000}), now())
      ON CONFLICT (name) DO UPDATE
         SET holder = excluded.holder, lease_until = excluded.lease_until, last_started_at = now()
       WHERE job_leases.holder = excluded.holder OR job_leases.lease_until < now()
      RETURNING holder`.execute(db);
    return r.rows.length === 1;
  };
  const renew = async (): Promise<boolean> => {
    const r = await db
      .updateTable('job_leases')
      .set({ lease_until: sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})` })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  };

  const once = async (): Promise<boolean> => {
    try {
      holding = await acquire();
    } catch (err) {
      log?.warn({ err }, 'could not take the job lease');
      holding = false;
    }
    if (!holding || stopped) return false;
    controller = new AbortController();
    const signal = controller.signal;
    // A long run must keep its lease, or another engine would start the same job meanwhile.
    const renewal = setInterval(
      () => {
        renew()
          .then((ok) => {
            if (!ok) {
              holding = false;
              controller?.abort(new Error(`lease on job ${name} lost`));
            }
          })
          .catch((err) => log?.warn({ err }, 'renewing the job lease failed'));
      },
      Math.max(50, leaseMs / 3),
    );
    try {
      await fn(signal);
    } catch (err) {
      if (!signal.aborted) log?.error({ err }, 'leased job failed');
    } finally {
      clearInterval(renewal);
      controller = undefined;
    }
    await db
      .updateTable('job_leases')
      .set({
        last_finished_at: sql<Date>`now()`,
        lease_until: sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})`,
      })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .execute()
      .catch((err) => log?.warn({ err }, 'recording the job run failed'));
    return true;
  };

  const runNow = (): Promise<boolean> => {
    if (stopped) return Promise.resolve(false);
    // Never overlap: a second caller waits for the run in progress and reports its outcome.
    if (!current) {
      current = once().finally(() => {
        current = undefined;
      });
    }
    return current;
  };

  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runNow().finally(loop);
    }, intervalMs);
    timer.unref();
  };

  if (opts.runAtStart ?? true) void runNow().finally(loop);
  else loop();

  return {
    get holding() {
      return holding;
    },
    runNow,
    async stop({ release = true } = {}) {
      stopped = true;
      clearTimeout(timer);
      controller?.abort(new Error(`job ${name} stopping`));
      await current?.catch(() => {});
      if (!release) return;
      // Hand the lease back so another engine does not have to wait for it to expire.
      await db
        .updateTable('job_leases')
        .set({ lease_until: sql<Date>`now() - interval '1 millisecond'` })
        .where('name', '=', name)
        .where('holder', '=', holder)
        .execute()
        .catch((err) => log?.warn({ err }, 'releasing the job lease failed'));
    },
  };
}
