import type { ServerResponse } from 'node:http';
import type { OperationProgressFrame } from '@vireo/api';
import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import {
  type EventFilter,
  type EventRow,
  eventsBetween,
  firstEventIdAtOrAfter,
} from '../db/repositories/events';
import type { EventNotifier } from './notifier';
import { type ProgressFeed, progressFrameText, progressMatches } from './progress';
import { toEventJson } from './wire';

export interface EventStreamOptions {
  /** kinds / severity / objectId; `since` and `afterId` are handled as the starting point. */
  filter: EventFilter;
  /** Resume after this id (from `Last-Event-ID`). Wins over `since`. */
  lastEventId?: number;
  /** Start with the events at or after this time. */
  since?: Date;
  /** Whether the client may see this event (the authorization check). */
  visible(event: EventRow): boolean;
  /** Comment line sent this often so proxies and clients see the connection alive. */
  heartbeatMs: number;
  /** A client that lets this much pile up unread is disconnected (it resumes from the table). */
  maxBufferedBytes: number;
  /** End the stream at this time (the credentials' expiry): the client must reconnect and re-auth. */
  endAt?: Date;
  /** Suggested reconnect delay sent as `retry:`. */
  retryMs?: number;
  /** Whether the client may see this operation's live progress; none: no progress frames. */
  visibleProgress?(frame: OperationProgressFrame): boolean;
}

export interface EventStreamDeps {
  db: Db;
  notifier: EventNotifier;
  /** Live operation progress (ephemeral frames without `id:`); none: no progress frames. */
  progress?: Pick<ProgressFeed, 'subscribe'>;
  log: Logger;
}

const REPLAY_PAGE = 500;

function frame(row: EventRow): string {
  // Kinds match EVENT_KIND_PATTERN and JSON.stringify escapes newlines, so no field can break framing.
  return `id: ${row.id}\nevent: ${row.kind}\ndata: ${JSON.stringify(toEventJson(row))}\n\n`;
}

/**
 * Serves `text/event-stream` on `res` until the client goes away: first what it missed (from the
 * table), then live events from the notifier, each exactly once and in id order. Resolves when the
 * connection is closed. Never buffers without bound: a client too slow to read is disconnected
 * and, on reconnect with `Last-Event-ID`, replays from the table.
 */
export async function serveEventStream(
  res: ServerResponse,
  deps: EventStreamDeps,
  opts: EventStreamOptions,
): Promise<void> {
  const log = deps.log;
  let closed = false;
  let live = false;
  let cursor: number;
  /** With `since`: ids below the first event at or after it, and older than it, are not sent live. */
  let sinceFloor: { id: number; time: number } | undefined;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = () => {};
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const close = (reason?: string) => {
    if (closed) return;
    closed = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    if (reason) log.info({ reason }, 'closing event stream');
    if (!res.destroyed) {
      if (reason === 'slow_client') res.destroy();
      else res.end();
    }
    resolveDone();
  };
  res.on('close', () => close());
  res.on('error', () => close());

  const write = (text: string): boolean => {
    if (closed) return false;
    const ok = res.write(text);
    if (res.writableLength > opts.maxBufferedBytes) {
      close('slow_client');
      return false;
    }
    return ok;
  };
  const send = (row: EventRow) => {
    if (matches(row, opts.filter) && opts.visible(row)) write(frame(row));
  };

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // Reverse proxies (nginx) must pass events through as they come.
    'x-accel-buffering': 'no',
  });
  write(`retry: ${opts.retryMs ?? 2000}\n: stream open\n\n`);
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), opts.heartbeatMs);
  timers.push(heartbeat);
  if (opts.endAt) {
    const ms = Math.max(0, opts.endAt.getTime() - Date.now());
    // setTimeout overflows past ~24.8 days; credentials never live that long, but be safe.
    timers.push(setTimeout(() => close('credentials_expired'), Math.min(ms, 2 ** 31 - 1)));
  }

  // Subscribe before reading the table, so nothing committed meanwhile can fall between the two.
  unsubscribe = deps.notifier.subscribe((row) => {
    if (!live || closed || row.id <= cursor) return;
    cursor = row.id;
    if (sinceFloor && row.id < sinceFloor.id && new Date(row.time).getTime() < sinceFloor.time) return;
    send(row);
  });

  // Progress frames are ephemeral: sent only once live (never during the replay), never counted
  // by the cursor, so a resume replays none of them.
  const visibleProgress = opts.visibleProgress;
  if (deps.progress && visibleProgress) {
    const unsubscribeEvents = unsubscribe;
    const unsubscribeProgress = deps.progress.subscribe((frame) => {
      if (live && !closed && progressMatches(frame, opts.filter) && visibleProgress(frame)) {
        write(progressFrameText(frame));
      }
    });
    unsubscribe = () => {
      unsubscribeEvents();
      unsubscribeProgress();
    };
  }

  try {
    if (opts.lastEventId !== undefined) cursor = opts.lastEventId;
    else if (opts.since) {
      const first = await firstEventIdAtOrAfter(deps.db, opts.since);
      const watermark = deps.notifier.watermark;
      // Never start past the notifier's watermark: a lower id than `first` may still be committing
      // (its transaction began earlier), and the notifier delivers it after `first`; starting at
      // `first - 1` would drop it. What comes live below `first` and before `since` is not sent.
      cursor = first === undefined ? watermark : Math.min(first - 1, watermark);
      if (first !== undefined) sinceFloor = { id: first, time: opts.since.getTime() };
    } else cursor = deps.notifier.watermark;

    // Replay (cursor, watermark] page by page; the watermark may move while we read, so loop until
    // caught up, then switch to live in the same tick as the last check (no await in between).
    for (;;) {
      if (closed) return done;
      const upTo = deps.notifier.watermark;
      if (cursor >= upTo) {
        live = true;
        break;
      }
      const rows = await eventsBetween(deps.db, opts.filter, cursor, upTo, REPLAY_PAGE);
      for (const row of rows) {
        if (opts.visible(row)) write(frame(row));
      }
      cursor = rows.length === REPLAY_PAGE ? rows.at(-1)!.id : upTo;
      if (!closed && res.writableNeedDrain) await waitDrain(res);
    }
  } catch (err) {
    log.error({ err }, 'event stream replay failed');
    close('replay_failed');
  }
  return done;
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      res.off('drain', finish);
      res.off('close', finish);
      resolve();
    };
    res.once('drain', finish);
    res.once('close', finish);
  });
}

/** The live side of the filters that eventsBetween() applies in SQL. */
export function matches(row: EventRow, f: EventFilter): boolean {
  if (f.kinds?.length && !f.kinds.some((k) => row.kind.startsWith(k))) return false;
  if (f.severity && row.severity !== f.severity) return false;
  if (f.objectId && row.object_id !== f.objectId.toLowerCase()) return false;
  if (f.search && !row.message.toLowerCase().includes(f.search.toLowerCase())) return false;
  return true;
}
