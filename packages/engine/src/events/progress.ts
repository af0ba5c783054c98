import { OPERATION_PROGRESS_EVENT, type OperationProgressFrame } from '@vireo/api';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import type { EventFilter } from '../db/repositories/events';
import type { PgListener } from './listener';

/** NOTIFY channel of live operation progress (every engine's streams hear every engine's runner). */
export const PROGRESS_CHANNEL = 'vireo_progress';

/** Default least time between two frames of one operation: at most 4 frames a second. */
export const PROGRESS_MIN_INTERVAL_MS = 250;

export type ProgressSubscriber = (frame: OperationProgressFrame) => void;

/** What the operation runner needs to announce progress. */
export interface ProgressSink {
  /** Announces an operation's progress (coalesced: the latest value wins). */
  publish(frame: OperationProgressFrame): void;
  /** The operation has ended: drop a frame still waiting for its turn. */
  forget(id: string): void;
}

export interface ProgressFeedOptions {
  db: Db;
  listener: PgListener;
  log: Logger;
  /** Least time between two frames of one operation. Default {@link PROGRESS_MIN_INTERVAL_MS}. */
  minIntervalMs?: number;
}

interface Slot {
  lastSent: number;
  pending: OperationProgressFrame | undefined;
  timer: NodeJS.Timeout | undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MESSAGE_MAX = 1024;

/**
 * Live operation progress. Not audit events: progress frames are not stored, carry no event id and
 * are never replayed (the operation row keeps the latest progress for whoever missed them). The
 * runner publishes through PostgreSQL NOTIFY so the streams of every engine sharing the database
 * see it, and each operation is throttled to a few frames a second, trailing value kept, so a
 * handler reporting per chunk costs neither the database nor the browsers.
 */
export class ProgressFeed implements ProgressSink {
  private readonly slots = new Map<string, Slot>();
  private readonly subscribers = new Set<ProgressSubscriber>();
  private readonly log: Logger;
  private readonly minIntervalMs: number;
  private unlisten: (() => void) | undefined;

  constructor(private readonly opts: ProgressFeedOptions) {
    this.log = opts.log.child({ module: 'engine:progress-feed' });
    this.minIntervalMs = opts.minIntervalMs ?? PROGRESS_MIN_INTERVAL_MS;
  }

  /** Hears frames from every engine (call after the listener may be started; idempotent). */
  start(): void {
    this.unlisten ??= this.opts.listener.on(PROGRESS_CHANNEL, (payload) => this.receive(payload));
  }

  stop(): void {
    this.unlisten?.();
    this.unlisten = undefined;
    for (const slot of this.slots.values()) clearTimeout(slot.timer);
    this.slots.clear();
    this.subscribers.clear();
  }

  /** Calls `fn` with each frame heard (from any engine); returns the unsubscribe. */
  subscribe(fn: ProgressSubscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  publish(frame: OperationProgressFrame): void {
    if (!this.unlisten) return; // stopped: nobody could hear it
    let slot = this.slots.get(frame.id);
    if (!slot) {
      slot = { lastSent: 0, pending: undefined, timer: undefined };
      this.slots.set(frame.id, slot);
    }
    slot.pending = frame;
    if (slot.timer) return; // the trailing send takes the newest frame
    const wait = slot.lastSent + this.minIntervalMs - Date.now();
    if (wait <= 0) this.flush(frame.id, slot);
    else {
      slot.timer = setTimeout(() => this.flush(frame.id, slot), wait);
      slot.timer.unref();
    }
  }

  forget(id: string): void {
    const slot = this.slots.get(id);
    if (slot) clearTimeout(slot.timer);
    this.slots.delete(id);
  }

  private flush(id: string, slot: Slot): void {
    slot.timer = undefined;
    const frame = slot.pending;
    slot.pending = undefined;
    if (!frame || this.slots.get(id) !== slot) return;
    slot.lastSent = Date.now();
    const payload = JSON.stringify(frame);
    // A lost frame only delays the bar until the next one (or the final event): log, do not fail.
    sql`SELECT pg_notify(${PROGRESS_CHANNEL}, ${payload})`
      .execute(this.opts.db)
      .catch((err) => this.log.warn({ err, operationId: id }, 'publishing progress failed'));
    // Forget idle operations, so the map holds only what is reporting now.
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (slot.pending) this.flush(id, slot);
      else if (this.slots.get(id) === slot) this.slots.delete(id);
    }, this.minIntervalMs);
    slot.timer.unref();
  }

  private receive(payload: string): void {
    const frame = parseProgressFrame(payload);
    if (!frame) {
      this.log.warn('ignoring a malformed progress notification');
      return;
    }
    for (const fn of this.subscribers) {
      try {
        fn(frame);
      } catch (err) {
        this.log.error({ err }, 'progress subscriber failed');
      }
    }
  }
}

/** Checks a notification's payload field by field (anyone with database access can NOTIFY). */
export function parseProgressFrame(payload: string): OperationProgressFrame | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string';
  const optStr = (x: unknown) => x === null || str(x);
  if (!str(o.id) || !UUID_RE.test(o.id) || !str(o.type) || o.type.length > 128) return undefined;
  if (!optStr(o.target_kind) || !optStr(o.target_id) || !optStr(o.message)) return undefined;
  if (typeof o.progress !== 'number' || !Number.isFinite(o.progress)) return undefined;
  return {
    id: o.id.toLowerCase(),
    type: o.type,
    target_kind: (o.target_kind as string | null) ?? null,
    target_id: (o.target_id as string | null)?.toLowerCase() ?? null,
    progress: Math.min(1, Math.max(0, o.progress)),
    message: (o.message as string | null)?.slice(0, MESSAGE_MAX) ?? null,
  };
}

/** Whether a stream with filter `f` wants a progress frame (the live side of its filters). */
export function progressMatches(frame: OperationProgressFrame, f: EventFilter): boolean {
  if (f.kinds?.length && !f.kinds.some((k) => OPERATION_PROGRESS_EVENT.startsWith(k))) return false;
  if (f.severity && f.severity !== 'info') return false;
  if (f.objectId && frame.target_id !== f.objectId.toLowerCase()) return false;
  if (f.search && !(frame.message ?? '').toLowerCase().includes(f.search.toLowerCase())) return false;
  return true;
}

/** The SSE frame: deliberately without `id:` so it never moves a client's Last-Event-ID. */
export function progressFrameText(frame: OperationProgressFrame): string {
  return `event: ${OPERATION_PROGRESS_EVENT}\ndata: ${JSON.stringify(frame)}\n\n`;
}
