import type { RequestOptions, VireoClient } from './client';
import { ApiError, VireoClientError } from './errors';
import type { ListQuery, MutationResult, Page, Resource } from './types';
import { segment } from './url';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` looks like an object id rather than a name. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** An object together with the ETag to send back as If-Match. */
export interface Versioned<T> {
  value: T;
  etag?: string;
}

/**
 * CRUD helpers for one collection (`/datacenters`, `/clusters`, …). `kind` is the singular noun
 * used in error codes (`datacenter_not_found`).
 */
export class ResourceApi<T extends Resource> {
  constructor(
    protected readonly client: VireoClient,
    readonly path: string,
    readonly kind: string,
  ) {}

  list(query: ListQuery = {}, signal?: AbortSignal): Promise<Page<T>> {
    return this.client.list<T>(this.path, query, signal);
  }

  paginate(query: ListQuery = {}, signal?: AbortSignal): AsyncGenerator<T> {
    return this.client.paginate<T>(this.path, query, signal);
  }

  get(id: string, signal?: AbortSignal): Promise<T> {
    return this.client.get<T>(this.itemPath(id), { signal });
  }

  async getVersioned(id: string, signal?: AbortSignal): Promise<Versioned<T>> {
    const res = await this.client.request<T>('GET', this.itemPath(id), { signal });
    return { value: res.body, etag: res.etag };
  }

  create(body: Record<string, unknown>, options?: RequestOptions): Promise<MutationResult<T>> {
    return this.client.create<T>(this.path, body, options);
  }

  update(
    id: string,
    patch: Record<string, unknown>,
    options?: RequestOptions & { ifMatch?: string },
  ): Promise<MutationResult<T>> {
    return this.client.update<T>(this.itemPath(id), patch, options);
  }

  delete(id: string, options?: RequestOptions & { ifMatch?: string }): Promise<MutationResult<unknown>> {
    return this.client.delete(this.itemPath(id), options);
  }

  action<R = unknown>(
    id: string,
    action: string,
    body?: unknown,
    options?: RequestOptions,
  ): Promise<MutationResult<R>> {
    return this.client.action<R>(this.itemPath(id), action, body, options);
  }

  /**
   * Finds one object by id or by exact name. Names are looked up with `?search=` and then
   * compared exactly, because search may match substrings.
   */
  async resolve(nameOrId: string, query: ListQuery = {}, signal?: AbortSignal): Promise<T> {
    if (nameOrId.trim() === '') {
      throw new VireoClientError('invalid_argument', `an empty ${this.kind} name was given`);
    }
    if (isUuid(nameOrId)) {
      return this.get(nameOrId, signal);
    }
    const matches: T[] = [];
    for await (const item of this.paginate({ ...query, search: nameOrId }, signal)) {
      if (item.name === nameOrId) matches.push(item);
      if (matches.length > 1) break;
    }
    if (matches.length === 0) {
      throw new ApiError(404, `${this.kind}_not_found`, `no ${this.kind} named ${JSON.stringify(nameOrId)}`, {
        name: nameOrId,
      });
    }
    if (matches.length > 1) {
      throw new ApiError(
        409,
        `${this.kind}_name_ambiguous`,
        `more than one ${this.kind} is named ${JSON.stringify(nameOrId)}; use its id`,
        { name: nameOrId },
      );
    }
    return matches[0]!;
  }

  /** Names starting with `prefix`, for shell completion. */
  async names(prefix = '', limit = 200, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    const query: ListQuery = prefix ? { search: prefix } : {};
    for await (const item of this.paginate(query, signal)) {
      if (typeof item.name === 'string' && item.name.startsWith(prefix)) out.push(item.name);
      if (out.length >= limit) break;
    }
    return out;
  }

  protected itemPath(id: string): string {
    return `${this.path}/${segment(id)}`;
  }
}
