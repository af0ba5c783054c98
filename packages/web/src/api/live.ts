import type { QueryClient } from '@tanstack/react-query';
import {
  type EphemeralFrame,
  isAbortError,
  isEphemeral,
  type OperationProgressFrame,
  operationProgressOf,
  streamEvents,
  type VireoEvent,
  VireoClient,
} from '@vireo/client';
import { api, browserFetch } from './client';
import { invalidationsFor } from './keys';
import { applyProgressToCache } from './progress';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

type Listener = (event: VireoEvent) => void;
type ProgressListener = (frame: OperationProgressFrame) => void;

/** Where events come from: the engine's stream by default; tests hand in their own. */
export type EventSource = (
  signal: AbortSignal,
  onReconnect: () => void,
  onOpen: () => void,
) => AsyncIterable<VireoEvent | EphemeralFrame>;

/**
 * The portal's one connection to `GET /api/v1/events/stream`. Every event invalidates the cached
 * queries that may show its object (see {@link invalidationsFor}), so every view refreshes from the
 * stream and nothing polls. Components that show events themselves (the event log, the operations
 * drawer) subscribe here instead of opening their own streams. Live `operation.progress` frames
 * are written into the cached operations in place (no refetch per frame); the operation's final
 * event then invalidates them like any other event.
 */
export class LiveUpdates {
  readonly #queries: QueryClient;
  readonly #listeners = new Set<Listener>();
  readonly #progressListeners = new Set<ProgressListener>();
  readonly #statusListeners = new Set<(s: LiveStatus) => void>();
  #abort: AbortController | undefined;
  #status: LiveStatus = 'stopped';

  constructor(queries: QueryClient) {
    this.#queries = queries;
  }

  get status(): LiveStatus {
    return this.#status;
  }

  /** Opens the stream (idempotent). It reconnects on its own with Last-Event-ID until stopped. */
  start(source: EventSource = defaultSource): void {
    if (this.#abort) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#setStatus('connecting');
    void (async () => {
      try {
        const events = source(
          abort.signal,
          () => this.#setStatus('reconnecting'),
          () => this.#setStatus('live'),
        );
        for await (const event of events) {
          if (abort.signal.aborted) break;
          this.#setStatus('live');
          if (isEphemeral(event)) this.handleFrame(event);
          else this.handle(event);
        }
      } catch (err) {
        // A 401 ends the stream; the API client has already told the app to show the login page.
        if (!isAbortError(err)) console.warn('event stream ended', err);
      } finally {
        if (this.#abort === abort) this.#abort = undefined;
        this.#setStatus('stopped');
      }
    })();
  }

  stop(): void {
    this.#abort?.abort();
    this.#abort = undefined;
    this.#setStatus('stopped');
  }

  /** Applies one event: invalidates the affected queries and tells subscribers. */
  handle(event: VireoEvent): void {
    for (const queryKey of invalidationsFor(event)) {
      void this.#queries.invalidateQueries({ queryKey });
    }
    for (const l of this.#listeners) l(event);
  }

  /** Applies one ephemeral frame: an operation's progress goes into the cache in place. */
  handleFrame(frame: EphemeralFrame): void {
    const progress = operationProgressOf(frame);
    if (!progress) return; // a frame kind this portal does not know yet
    applyProgressToCache(this.#queries, progress);
    for (const l of this.#progressListeners) l(progress);
  }

  /** Calls `listener` for each live operation progress frame; returns the unsubscribe. */
  subscribeProgress(listener: ProgressListener): () => void {
    this.#progressListeners.add(listener);
    return () => this.#progressListeners.delete(listener);
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onStatus(listener: (s: LiveStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  #setStatus(s: LiveStatus) {
    if (s === this.#status) return;
    this.#status = s;
    for (const l of this.#statusListeners) l(s);
  }
}

function defaultSource(
  signal: AbortSignal,
  onReconnect: () => void,
  onOpen: () => void,
): AsyncIterable<VireoEvent | EphemeralFrame> {
  // A client of its own, to hear when the stream's response arrives (the live indicator turns
  // green on connect, not at the first event, which may be minutes away).
  const base = browserFetch();
  const client = new VireoClient({
    baseUrl: api.baseUrl.origin,
    fetch: async (url, init) => {
      const res = await base(url, init);
      if (res.ok) onOpen();
      return res;
    },
  });
  return streamEvents(client, {
    signal,
    onReconnect,
    // Only new events: the views load their state by query; the backlog would only re-invalidate.
    since: new Date().toISOString(),
    retryMs: 1000,
    // Live operation progress: moving bars without polling.
    ephemeral: true,
  });
}
