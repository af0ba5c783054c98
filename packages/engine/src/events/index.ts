import type pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import { type Audit, createAudit } from './audit';
import { PgListener } from './listener';
import { EventNotifier } from './notifier';
import { ProgressFeed } from './progress';

export type { Audit, AuditInput, RecordedEvent } from './audit';
export { EventNotifier } from './notifier';
export { PgListener } from './listener';
export { ProgressFeed, type ProgressSink } from './progress';

export interface EventsOptions {
  db: Db;
  /** The engine's pool: the LISTEN connection is opened with the same settings. */
  pool: pg.Pool;
  log: Logger;
  /** Heartbeat comment interval on event streams. Default 15 s. */
  heartbeatMs?: number;
  /** Unread bytes after which a stream client is dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Notifier safety-net poll. Default 5 s. */
  pollMs?: number;
  /** Least time between two live progress frames of one operation. Default 250 ms. */
  progressIntervalMs?: number;
}

/** The audit log, the shared LISTEN connection and the live event fan-out. */
export interface Events {
  audit: Audit;
  listener: PgListener;
  notifier: EventNotifier;
  /** Live operation progress: ephemeral stream frames, published through NOTIFY. */
  progress: ProgressFeed;
  stream: { heartbeatMs: number; maxBufferedBytes: number };
  /** Connects the listener and starts the notifier; call before serving requests. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createEvents(opts: EventsOptions): Events {
  const listener = new PgListener({ pool: opts.pool, log: opts.log });
  const notifier = new EventNotifier({
    db: opts.db,
    log: opts.log,
    listener,
    ...(opts.pollMs === undefined ? {} : { pollMs: opts.pollMs }),
  });
  const progress = new ProgressFeed({
    db: opts.db,
    listener,
    log: opts.log,
    ...(opts.progressIntervalMs === undefined ? {} : { minIntervalMs: opts.progressIntervalMs }),
  });
  return {
    audit: createAudit(),
    listener,
    notifier,
    progress,
    stream: {
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      maxBufferedBytes: opts.maxBufferedBytes ?? 1024 * 1024,
    },
    async start() {
      // Registered first so the listener's connect LISTENs to its channel before serving.
      progress.start();
      await listener.start();
      await notifier.start();
    },
    async stop() {
      progress.stop();
      await notifier.stop();
      await listener.stop();
    },
  };
}
