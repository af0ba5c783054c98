import { ApiError, VireoClientError, wrapTransportError } from './errors';
import { EventsApi } from './events';
import { OperationsApi, type WaitOptions, waitForOperation } from './operations';
import { ResourceApi } from './resources';
import type {
  ApiErrorBody,
  Cluster,
  DataCenter,
  Health,
  Host,
  Identity,
  ListQuery,
  LoginResult,
  MutationResult,
  Operation,
  Page,
  Vm,
} from './types';
import { buildUrl, normalizeBaseUrl } from './url';

/** Minimal response surface the client needs; satisfied by global fetch and undici's fetch. */
export interface FetchResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
}

/** A fetch implementation; `dispatcher` is passed through for undici. */
export type FetchLike = (url: string, init: Record<string, unknown>) => Promise<FetchResponse>;

export interface VireoClientOptions {
  /** `https://engine:8443` or `https://engine:8443/api/v1`. */
  baseUrl: string;
  /** Bearer token from {@link VireoClient.login}. */
  token?: string;
  /**
   * PEM of the CA to trust for the engine's certificate (the engine's internal CA). Verification
   * is never disabled: without `ca` the platform's trust store applies.
   */
  ca?: string;
  /** Replaces the fetch implementation (tests, browsers). */
  fetch?: FetchLike;
  /** Per-request timeout in ms (long polls add their wait on top). Default 60 s. */
  timeoutMs?: number;
  /** Sent as User-Agent where the platform allows it. */
  userAgent?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  body?: unknown;
  /** Sent as is (streamed), instead of `body` as JSON: image data (see transfers.ts). */
  rawBody?: AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  etag?: string;
  location?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Typed client for the Vireo REST API (`/api/v1`). One instance per engine and identity; it holds
 * a connection pool, so call {@link close} when done.
 */
export class VireoClient {
  /** The API base, always ending in `/api/v1`. */
  readonly baseUrl: URL;
  readonly datacenters: ResourceApi<DataCenter>;
  readonly clusters: ResourceApi<Cluster>;
  readonly vms: ResourceApi<Vm>;
  readonly hosts: ResourceApi<Host>;
  readonly operations: OperationsApi;
  readonly events: EventsApi;

  #token: string | undefined;
  readonly #ca: string | undefined;
  readonly #timeoutMs: number;
  readonly #userAgent: string | undefined;
  #fetch: FetchLike | undefined;
  readonly #customFetch: boolean;
  #dispatcher: { close(): Promise<void> } | undefined;

  constructor(options: VireoClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.#token = options.token;
    this.#ca = options.ca;
    this.#fetch = options.fetch;
    this.#customFetch = options.fetch !== undefined;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = options.userAgent;
    this.datacenters = new ResourceApi<DataCenter>(this, '/datacenters', 'datacenter');
    this.clusters = new ResourceApi<Cluster>(this, '/clusters', 'cluster');
    this.vms = new ResourceApi<Vm>(this, '/vms', 'vm');
    this.hosts = new ResourceApi<Host>(this, '/hosts', 'host');
    this.operations = new OperationsApi(this);
    this.events = new EventsApi(this);
  }

  /** scheme://host:port of the engine, safe to show in messages. */
  get origin(): string {
    return this.baseUrl.origin;
  }

  get token(): string | undefined {
    return this.#token;
  }

  setToken(token: string | undefined): void {
    this.#token = token;
  }

  /** Exchanges credentials for a bearer token and keeps it for later requests. */
  async login(username: string, password: string, signal?: AbortSignal): Promise<LoginResult> {
    const res = await this.request<LoginResult>('POST', '/auth/login', {
      body: { username, password },
      signal,
    });
    if (!res.body || typeof res.body.token !== 'string') {
      throw new VireoClientError('invalid_response', 'the engine answered the login without a token');
    }
    this.#token = res.body.token;
    return res.body;
  }

  /** Revokes the current token on the engine and forgets it. */
  async logout(signal?: AbortSignal): Promise<void> {
    if (!this.#token) return;
    try {
      await this.request('POST', '/auth/logout', { signal });
    } finally {
      this.#token = undefined;
    }
  }

  /** The user behind the current token (`GET /auth/whoami`). */
  async whoami(signal?: AbortSignal): Promise<Identity> {
    return (await this.request<Identity>('GET', '/auth/whoami', { signal })).body;
  }

  /** GET /health (public). */
  async health(signal?: AbortSignal): Promise<Health> {
    return (await this.request<Health>('GET', '/health', { signal })).body;
  }

  async get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('GET', path, options)).body;
  }

  /** One page of a collection. */
  async list<T>(path: string, query: ListQuery = {}, signal?: AbortSignal): Promise<Page<T>> {
    const body = await this.get<Page<T>>(path, { query, signal });
    if (!body || !Array.isArray(body.items)) {
      throw new VireoClientError('invalid_response', `list ${path} did not return {"items":[…]}`);
    }
    return body;
  }

  /** Every item of a collection, following `next_cursor` page by page. */
  async *paginate<T>(path: string, query: ListQuery = {}, signal?: AbortSignal): AsyncGenerator<T> {
    let cursor = query.cursor;
    const seen = new Set<string>();
    for (;;) {
      const page: Page<T> = await this.list<T>(path, { ...query, cursor }, signal);
      yield* page.items;
      const next = page.next_cursor ?? undefined;
      if (!next || page.items.length === 0) return;
      // A server bug handing out the same cursor twice would otherwise loop forever.
      if (seen.has(next)) throw new VireoClientError('invalid_response', `list ${path} repeated a cursor`);
      seen.add(next);
      cursor = next;
    }
  }

  async create<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<MutationResult<T>> {
    return toMutation(await this.request<T>('POST', path, { ...options, body }));
  }

  /** PATCH with optimistic concurrency: pass the ETag from a previous GET as `ifMatch`. */
  async update<T>(
    path: string,
    patch: unknown,
    options: RequestOptions & { ifMatch?: string } = {},
  ): Promise<MutationResult<T>> {
    const headers = { ...options.headers, ...(options.ifMatch ? { 'if-match': options.ifMatch } : {}) };
    return toMutation(await this.request<T>('PATCH', path, { ...options, headers, body: patch }));
  }

  async delete(
    path: string,
    options: RequestOptions & { ifMatch?: string } = {},
  ): Promise<MutationResult<unknown>> {
    const headers = { ...options.headers, ...(options.ifMatch ? { 'if-match': options.ifMatch } : {}) };
    return toMutation(await this.request('DELETE', path, { ...options, headers }));
  }

  /** POST `{path}/{action}`; long actions come back as `accepted` with an Operation. */
  async action<T>(
    path: string,
    action: string,
    body?: unknown,
    options: RequestOptions = {},
  ): Promise<MutationResult<T>> {
    return toMutation(
      await this.request<T>('POST', `${path}/${encodeURIComponent(action)}`, { ...options, body }),
    );
  }

  /** Follows an Operation until it ends; see {@link waitForOperation}. */
  waitForOperation(id: string, options: WaitOptions = {}): Promise<Operation> {
    return waitForOperation(this, id, options);
  }

  /** Sends one request and decodes the JSON answer; non-2xx answers throw {@link ApiError}. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const res = await this.send(method, path, options, 'application/json');
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw wrapTransportError(err, this.origin, options.signal);
    }
    const body = text === '' ? undefined : parseJson(text, res, path);
    if (!res.ok) throw apiErrorFrom(res, body);
    return {
      status: res.status,
      body: body as T,
      etag: res.headers.get('etag') ?? undefined,
      location: res.headers.get('location') ?? undefined,
    };
  }

  /**
   * Opens a streaming response (used for Server-Sent Events). The caller owns the body. A
   * non-2xx answer is read and thrown as {@link ApiError}.
   */
  async stream(path: string, options: RequestOptions & { accept: string }): Promise<FetchResponse> {
    const res = await this.send('GET', path, { ...options, timeoutMs: 0 }, options.accept);
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw apiErrorFrom(res, text ? safeParse(text) : undefined);
    }
    return res;
  }

  /**
   * Sends one request and hands back the raw response, whatever its status (the caller reads or
   * cancels the body). For streamed uploads (`rawBody`) and downloads.
   */
  async raw(
    method: string,
    path: string,
    options: RequestOptions & { accept?: string } = {},
  ): Promise<FetchResponse> {
    return this.send(method, path, options, options.accept ?? 'application/json');
  }

  /** Releases pooled connections. */
  async close(): Promise<void> {
    const d = this.#dispatcher;
    this.#dispatcher = undefined;
    this.#fetch = undefined;
    await d?.close();
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    accept: string,
  ): Promise<FetchResponse> {
    const url = buildUrl(this.baseUrl, path, options.query);
    const headers: Record<string, string> = { accept, ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (this.#userAgent) headers['user-agent'] = this.#userAgent;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    if (options.rawBody && !this.#customFetch && typeof process !== 'undefined' && process.versions?.node) {
      // Streamed uploads through undici's request(): fetch() wraps the body in web streams, which
      // halves the throughput of large image uploads.
      try {
        return await this.streamRequest(url, method, headers, options.rawBody, signal);
      } catch (err) {
        throw wrapTransportError(err, this.origin, options.signal);
      }
    }
    const fetchImpl = await this.fetchImpl();
    try {
      return await fetchImpl(url, {
        method,
        headers,
        body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
        ...(options.rawBody ? { duplex: 'half' } : {}),
        signal,
        redirect: 'error',
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
    } catch (err) {
      throw wrapTransportError(err, this.origin, options.signal);
    }
  }

  private async streamRequest(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<FetchResponse> {
    const undici = await import('undici');
    if (this.#ca !== undefined) await this.fetchImpl(); // creates the dispatcher trusting the CA
    // A variable specifier: browser bundles (which never take this path) leave node:stream alone.
    const streamModule = 'node:stream';
    const { Readable } = (await import(/* @vite-ignore */ streamModule)) as typeof import('node:stream');
    const res = await undici.request(url, {
      method: method as 'PUT',
      headers,
      body: body instanceof Readable ? body : Readable.from(body),
      ...(signal ? { signal } : {}),
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher as unknown as import('undici').Dispatcher } : {}),
    });
    return {
      status: res.statusCode,
      ok: res.statusCode >= 200 && res.statusCode < 300,
      statusText: '',
      headers: {
        get: (name: string) => {
          const v = res.headers[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
        },
      },
      body: null,
      text: () => res.body.text(),
    };
  }

  private async fetchImpl(): Promise<FetchLike> {
    if (this.#fetch) return this.#fetch;
    if (this.#ca === undefined) {
      this.#fetch = globalThis.fetch as unknown as FetchLike;
      return this.#fetch;
    }
    // undici is loaded only when a private CA is in play, so browser bundles never pull it in.
    const undici = await import('undici');
    this.#dispatcher = new undici.Agent({ connect: { ca: this.#ca } });
    this.#fetch = undici.fetch as unknown as FetchLike;
    return this.#fetch;
  }
}

function parseJson(text: string, res: FetchResponse, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    if (!res.ok) return undefined;
    throw new VireoClientError(
      'invalid_response',
      `${path} answered ${res.status} with a body that is not JSON`,
      {
        cause,
      },
    );
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function apiErrorFrom(res: FetchResponse, body: unknown): ApiError {
  const err = (body as Partial<ApiErrorBody> | undefined)?.error;
  if (err && typeof err.code === 'string' && typeof err.message === 'string') {
    const details = err.details && typeof err.details === 'object' ? err.details : {};
    return new ApiError(res.status, err.code, err.message, details);
  }
  return new ApiError(
    res.status,
    `http_${res.status}`,
    `the engine answered ${res.status} ${res.statusText}`.trim(),
  );
}

/** Finds the Operation in a 202 body (`{"operation":{…}}`, or the Operation itself). */
export function extractOperation(body: unknown): Operation | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const wrapped = (body as { operation?: unknown }).operation;
  const candidate = (wrapped && typeof wrapped === 'object' ? wrapped : body) as Partial<Operation>;
  return typeof candidate.id === 'string' && typeof candidate.state === 'string'
    ? (candidate as Operation)
    : undefined;
}

function toMutation<T>(res: ApiResponse<T>): MutationResult<T> {
  if (res.status === 202) {
    const operation = extractOperation(res.body);
    if (!operation)
      throw new VireoClientError('invalid_response', 'the engine accepted the request without an operation');
    return { kind: 'accepted', status: res.status, operation };
  }
  return { kind: 'done', status: res.status, value: res.body ?? undefined, etag: res.etag };
}
