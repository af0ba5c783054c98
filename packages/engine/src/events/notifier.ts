import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import {
  EVENTS_CHANNEL,
  type EventRow,
  eventsAfter,
  maxEventId,
  openTransactionSince,
} from '../db/repositories/events';
import type { PgListener } from './listener';

export type EventSubscriber = (event: EventRow) => void;

export interface EventNotifierOptions {
  db: Db;
  log: Logger;
  listener: PgListener;
  /** Re-read even without a notification (covers a dropped listener connection). Default 5 s. */
  pollMs?: number;
  /** Give up waiting for a missing id after this long. Default 60 s. */
  gapTimeoutMs?: number;
  /** How often to look again while an id is missing. Default 100 ms. */
  gapRecheckMs?: number;
}

const BATCH = 1000;

/**
 * Delivers committed events to in-process subscribers in id order, with no gaps and no repeats.
 *
 * Ids come from a sequence, so they are allocated in insert order but become visible in commit
 * order: event 7 may commit before event 6. Delivering 7 at once would let a client resume "after
 * 7" and never see 6. So the notifier keeps a watermark — every id up to it is either delivered or
 * known never to exist — and holds back events after a missing id until the missing one commits,
 * or no transaction that could still commit it is open (it was rolled back), or `gapTimeoutMs`
 * passes. Streams replay from the table up to {@link watermark} and then take live events, which
 * together give every client each event exactly once.
 */
export class EventNotifier {
  private mark = 0;
  private readonly subscribers = new Set<EventSubscriber>();
  private running = false;
  private dirty = false;
  private pass: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private unlisten: (() => void)[] = [];
  /** The first missing id and the server time it was first noticed. */
  private gap: { id: number; seenAt: Date } | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: EventNotifierOptions) {
    this.log = opts.log.child({ module: 'engine:event-notifier' });
  }

  /** Every event with an id ≤ this has been delivered (or never will exist). */
  get watermark(): number {
    return this.mark;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.unlisten.push(this.opts.listener.on(EVENTS_CHANNEL, () => this.kick()));
    this.unlisten.push(this.opts.listener.onReconnect(() => this.kick()));
    // Start a little behind the newest id so events of transactions still open at start-up (a
    // lower id committing later) are handled by the gap logic instead of being skipped.
    this.mark = Math.max(0, (await maxEventId(this.opts.db)) - BATCH);
    await this.drain();
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const u of this.unlisten.splice(0)) u();
    await this.pass?.catch(() => {});
    this.subscribers.clear();
  }

  /** Subscribes to live events (those after the current {@link watermark}); returns the unsubscribe. */
  subscribe(fn: EventSubscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Looks for new events now (a notification arrived, or a caller knows something changed). */
  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (!this.running) this.pass = this.drain().finally(() => this.arm());
  }

  /** Runs passes until nothing new is announced; errors are logged and retried on the next poll. */
  private async drain(): Promise<void> {
    this.running = true;
    try {
      do {
        this.dirty = false;
        try {
          const more = await this.readOnce();
          if (more) this.dirty = true;
        } catch (err) {
          if (!this.stopped) this.log.warn({ err }, 'reading new events failed; will retry');
        }
      } while (this.dirty && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  /** Polls again later: soon while an id is missing, else slowly as a safety net for lost NOTIFYs. */
  private arm(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const delay = this.gap ? (this.opts.gapRecheckMs ?? 100) : (this.opts.pollMs ?? 5000);
    this.timer = setTimeout(() => this.kick(), delay);
    this.timer.unref();
  }

  /** One read; returns true when a full batch came back (there may be more). */
  private async readOnce(): Promise<boolean> {
    const { rows, serverTime } = await eventsAfter(this.opts.db, this.mark, BATCH);
    if (rows.length === 0) this.gap = undefined;
    for (const row of rows) {
      if (row.id !== this.mark + 1 && !(await this.gapResolved(serverTime))) return false;
      this.gap = undefined;
      this.mark = row.id;
      this.deliver(row);
    }
    return rows.length === BATCH;
  }

  /** Whether the ids between the watermark and the next committed row can be skipped. */
  private async gapResolved(serverTime: Date): Promise<boolean> {
    const missing = this.mark + 1;
    if (!this.gap || this.gap.id !== missing) {
      this.gap = { id: missing, seenAt: serverTime };
    }
    const age = serverTime.getTime() - this.gap.seenAt.getTime();
    if (age >= (this.opts.gapTimeoutMs ?? 60_000)) {
      this.log.warn({ id: missing, ageMs: age }, 'event id still missing; skipping it');
      return true;
    }
    // The transaction holding the missing id began before we noticed the gap: if none that old is
    // still open, the id was rolled back (or consumed by a failed insert) and will never appear.
    return !(await openTransactionSince(this.opts.db, this.gap.seenAt));
  }

  private deliver(row: EventRow): void {
    for (const fn of this.subscribers) {
      try {
        fn(row);
      } catch (err) {
        this.log.error({ err }, 'event subscriber failed');
      }
    }
  }
}
