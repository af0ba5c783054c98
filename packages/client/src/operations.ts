import type { VireoClient } from './client';
import { ApiError, VireoClientError } from './errors';
import { ResourceApi } from './resources';
import { type Operation, TERMINAL_OPERATION_STATES } from './types';
import { segment } from './url';

export interface WaitOptions {
  /** Called whenever the state or progress changed (also once with the first answer). */
  onProgress?: (operation: Operation) => void;
  signal?: AbortSignal;
  /** Give up after this long with `operation_timeout`. Default: wait forever. */
  timeoutMs?: number;
  /**
   * Longest single long-poll, in seconds (`?wait=N`; the engine answers when the operation ends or
   * after N seconds). Default 2 with `onProgress` (so progress shows), else 30.
   */
  pollSeconds?: number;
}

export function isTerminal(op: Operation): boolean {
  return TERMINAL_OPERATION_STATES.includes(op.state);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new VireoClientError('aborted', 'waiting was aborted'));
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(new VireoClientError('aborted', 'waiting was aborted'));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Follows an Operation with `GET /operations/{id}?wait=N` long polls until it succeeds, fails or
 * is cancelled, and returns its final state (a failed Operation is returned, not thrown).
 */
export async function waitForOperation(
  client: VireoClient,
  id: string,
  options: WaitOptions = {},
): Promise<Operation> {
  const { onProgress, signal, timeoutMs } = options;
  const pollSeconds = options.pollSeconds ?? (onProgress ? 2 : 30);
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
  let last: Operation | undefined;
  let quickRepeats = 0;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new VireoClientError(
        'operation_timeout',
        `operation ${id} did not finish within ${Math.round((timeoutMs ?? 0) / 1000)} s (last state: ${last?.state ?? 'unknown'})`,
      );
    }
    const wait = Math.max(1, Math.min(pollSeconds, Math.ceil(remaining / 1000)));
    const started = Date.now();
    const op = await client.get<Operation>(`/operations/${segment(id)}`, {
      query: { wait },
      signal,
      timeoutMs: (wait + 30) * 1000,
    });
    if (!op || typeof op.state !== 'string') {
      throw new VireoClientError('invalid_response', `operation ${id} came back without a state`);
    }
    const changed = !last || last.state !== op.state || last.progress !== op.progress;
    if (changed) onProgress?.(op);
    if (isTerminal(op)) return op;
    // An engine that answers a long poll at once (on every progress tick, or without supporting
    // ?wait) must not be hammered: back off when nothing changed.
    if (Date.now() - started < 250 && !changed) {
      quickRepeats++;
      await sleep(Math.min(2000, 200 * quickRepeats), signal);
    } else {
      quickRepeats = 0;
    }
    last = op;
  }
}

/** `/operations`: list, show, wait for and cancel Operations. */
export class OperationsApi extends ResourceApi<Operation> {
  constructor(client: VireoClient) {
    super(client, '/operations', 'operation');
  }

  wait(id: string, options?: WaitOptions): Promise<Operation> {
    return waitForOperation(this.client, id, options);
  }

  /** Asks the engine to cancel (`DELETE /operations/{id}`); returns the Operation's new state. */
  async cancel(id: string, signal?: AbortSignal): Promise<Operation> {
    const res = await this.client.delete(`/operations/${segment(id)}`, { signal });
    if (res.kind === 'accepted') return res.operation;
    const value = res.value as Operation | undefined;
    if (value && typeof value.state === 'string') return value;
    return this.get(id, signal);
  }

  /** Operations are addressed by id only. */
  override async resolve(id: string): Promise<Operation> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) {
      throw new ApiError(
        404,
        'operation_not_found',
        `operations are referenced by id; ${JSON.stringify(id)} is not one`,
      );
    }
    return this.get(id);
  }
}
