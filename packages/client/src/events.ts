import type { VireoClient } from './client';
import { ApiError, isAbortError, VireoClientError } from './errors';
import { SseParser } from './sse';
import type { ListQuery, MutationResult, OperationProgressFrame, Page, VireoEvent } from './types';

export interface StreamEventsOptions {
  /** Start after this event id (sent as Last-Event-ID). */
  lastEventId?: string;
  /** Start at this time (RFC 3339), for the first connection only. */
  since?: string;
  /** Only these event kinds (or kind prefixes such as `vm.`). */
  kinds?: readonly string[];
  /** Only events of this severity. */
  severity?: string;
  /** Only events about this object. */
  objectId?: string;
  signal?: AbortSignal;
  /** Delay before reconnecting when the server gave no `retry:`; doubles up to 30 s. Default 1 s. */
  retryMs?: number;
  /** Told about each reconnect attempt (after a dropped stream or a network error). */
  onReconnect?: (info: { attempt: number; delayMs: number; error?: unknown }) => void;
  /**
   * Also yield the stream's ephemeral frames (those without an SSE `id:`, such as
   * `operation.progress`) as {@link EphemeralFrame}s. Without it they are skipped. Either way
   * they never move the resume id.
   */
  ephemeral?: boolean;
}

/**
 * A stream frame that is not an audit event: it has no event id, is not stored and is never
 * replayed (e.g. `operation.progress`). Tell it from a {@link VireoEvent} by `ephemeral`.
 */
export interface EphemeralFrame {
  ephemeral: true;
  /** The SSE `event:` name, e.g. `operation.progress`. */
  kind: string;
  /** The parsed `data:` JSON (unchecked: use a parser such as {@link operationProgressOf}). */
  data: unknown;
}

/** Whether a streamed item is an {@link EphemeralFrame} rather than an audit event. */
export function isEphemeral(item: VireoEvent | EphemeralFrame): item is EphemeralFrame {
  return (item as Partial<EphemeralFrame>).ephemeral === true;
}

/** The operation progress an `operation.progress` frame carries, checked; else undefined. */
export function operationProgressOf(item: VireoEvent | EphemeralFrame): OperationProgressFrame | undefined {
  if (!isEphemeral(item) || item.kind !== 'operation.progress') return undefined;
  const d = item.data as Partial<OperationProgressFrame> | null;
  if (!d || typeof d !== 'object' || typeof d.id !== 'string' || typeof d.type !== 'string') return undefined;
  if (typeof d.progress !== 'number' || !Number.isFinite(d.progress)) return undefined;
  const orNull = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    id: d.id,
    type: d.type,
    target_kind: orNull(d.target_kind),
    target_id: orNull(d.target_id),
    progress: Math.min(1, Math.max(0, d.progress)),
    message: orNull(d.message),
  };
}

const MAX_RETRY_MS = 30_000;

/** `/events`: the audit log and its live stream. */
export class EventsApi {
  constructor(private readonly client: VireoClient) {}

  list(query: ListQuery = {}, signal?: AbortSignal): Promise<Page<VireoEvent>> {
    return this.client.list<VireoEvent>('/events', query, signal);
  }

  paginate(query: ListQuery = {}, signal?: AbortSignal): AsyncGenerator<VireoEvent> {
    return this.client.paginate<VireoEvent>('/events', query, signal);
  }

  /** Deletes events older than `before` (RFC 3339, at least a day ago) as an Operation. */
  purge(before: string, signal?: AbortSignal): Promise<MutationResult<unknown>> {
    return this.client.create('/events/purge', { before }, { signal });
  }

  stream(options: StreamEventsOptions & { ephemeral: true }): AsyncGenerator<VireoEvent | EphemeralFrame>;
  stream(options?: StreamEventsOptions): AsyncGenerator<VireoEvent>;
  stream(options: StreamEventsOptions = {}): AsyncGenerator<VireoEvent | EphemeralFrame> {
    return streamEvents(this.client, options);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(finish, ms);
    function finish() {
      signal?.removeEventListener('abort', finish);
      clearTimeout(t);
      resolve();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}

function toEvent(data: string, sseId: string | undefined, sseEvent: string): VireoEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined; // heartbeats and anything that is not an event object
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const ev = parsed as Partial<VireoEvent>;
  const id = typeof ev.id === 'string' ? ev.id : typeof ev.id === 'number' ? String(ev.id) : sseId;
  const kind = typeof ev.kind === 'string' ? ev.kind : sseEvent;
  if (id === undefined) return undefined;
  return { ...ev, id, kind } as VireoEvent;
}

function toEphemeral(data: string, sseEvent: string): EphemeralFrame | undefined {
  try {
    return { ephemeral: true, kind: sseEvent, data: JSON.parse(data) };
  } catch {
    return undefined;
  }
}

/**
 * Yields live events from `GET /events/stream` until `signal` aborts. When the stream drops it
 * reconnects with `Last-Event-ID`, so no event is lost or repeated across reconnects (as far as
 * the engine keeps its backlog). Authentication and other 4xx answers end the iteration with an
 * {@link ApiError}; 5xx and network errors are retried. Frames without an SSE `id:` are ephemeral
 * (live progress): yielded as {@link EphemeralFrame}s with `ephemeral: true`, else skipped.
 */
export function streamEvents(
  client: VireoClient,
  options: StreamEventsOptions & { ephemeral: true },
): AsyncGenerator<VireoEvent | EphemeralFrame>;
export function streamEvents(client: VireoClient, options?: StreamEventsOptions): AsyncGenerator<VireoEvent>;
export async function* streamEvents(
  client: VireoClient,
  options: StreamEventsOptions = {},
): AsyncGenerator<VireoEvent | EphemeralFrame> {
  const { signal, kinds, onReconnect } = options;
  let lastEventId = options.lastEventId;
  let since = options.since;
  const baseRetry = options.retryMs ?? 1000;
  let serverRetry: number | undefined;
  let attempt = 0;
  while (!signal?.aborted) {
    let error: unknown;
    try {
      const res = await client.stream('/events/stream', {
        accept: 'text/event-stream',
        query: {
          since: lastEventId ? undefined : since,
          kind: kinds?.length ? kinds : undefined,
          severity: options.severity,
          object_id: options.objectId,
        },
        headers: lastEventId ? { 'last-event-id': lastEventId } : {},
        signal,
      });
      if (!res.body) throw new VireoClientError('invalid_response', 'the event stream has no body');
      const parser = new SseParser();
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const messages = parser.push(decoder.decode(value, { stream: true }));
          serverRetry = parser.retryMs ?? serverRetry;
          for (const m of messages) {
            // The consumer may abort while handling the previous event of the same chunk.
            if (signal?.aborted) return;
            attempt = 0;
            if (m.id === undefined) {
              // Ephemeral: its data's `id` (an operation id) must never become the resume id.
              const frame = options.ephemeral ? toEphemeral(m.data, m.event) : undefined;
              if (frame) yield frame;
              continue;
            }
            const ev = toEvent(m.data, m.id, m.event);
            lastEventId = m.id;
            if (ev) yield ev;
          }
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    } catch (err) {
      if (signal?.aborted || isAbortError(err)) return;
      if (err instanceof ApiError && err.status < 500) throw err;
      error = err;
    }
    since = undefined;
    attempt++;
    const delayMs = Math.min(MAX_RETRY_MS, (serverRetry ?? baseRetry) * 2 ** Math.min(attempt - 1, 5));
    onReconnect?.({ attempt, delayMs, error });
    await sleep(delayMs, signal);
  }
}
