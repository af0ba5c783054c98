import { CSRF_HEADER } from '@vireo/api';
import { ApiError, type FetchLike, VireoClient } from '@vireo/client';

/** Listeners told when any request answers 401: the session is gone (expired, revoked, logged out). */
const unauthenticatedListeners = new Set<() => void>();

/** Calls `listener` whenever the engine answers 401; returns the unsubscribe function. */
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

/**
 * The browser's fetch with the session cookie and the CSRF header the engine requires on every
 * cookie-authenticated unsafe request (a cross-site page cannot add a custom header without a
 * CORS preflight, which the engine never grants). A 401 on anything but the login itself tells the
 * app to show the login page.
 */
export function browserFetch(base?: typeof fetch): FetchLike {
  return async (url, init) => {
    const headers = { ...(init.headers as Record<string, string> | undefined), [CSRF_HEADER]: '1' };
    // Looked up per call (not bound once) so tests can stand in for the network.
    const f = base ?? globalThis.fetch.bind(globalThis);
    const res = await f(url, { ...(init as RequestInit), headers, credentials: 'include' });
    if (res.status === 401 && !url.endsWith('/auth/login')) {
      for (const l of unauthenticatedListeners) l();
    }
    return res;
  };
}

/** The one API client of the portal: same origin, cookie auth. */
export const api = new VireoClient({
  baseUrl: typeof window === 'undefined' ? 'http://localhost' : window.location.origin,
  fetch: browserFetch(),
  timeoutMs: 60_000,
});

/** `{ field: message }` for every field an API validation error names, else `{}`. */
export function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError)) return {};
  const details = err.details ?? {};
  const out: Record<string, string> = {};
  const add = (field: unknown, message: unknown) => {
    if (typeof field !== 'string' || field === '') return;
    const key = normalizeField(field);
    if (!(key in out)) out[key] = typeof message === 'string' && message ? message : err.message;
  };
  add(details.field, details.reason ?? details.message ?? err.message);
  // Schema failures: `errors: [{in: 'body', path: '/disks/0/size_gib', message}]`.
  const errors = details.errors;
  if (Array.isArray(errors)) {
    for (const e of errors) {
      if (!e || typeof e !== 'object') continue;
      const o = e as Record<string, unknown>;
      if (o.in !== undefined && o.in !== 'body') continue;
      add(o.path, o.message);
    }
  }
  const fields = details.fields;
  if (Array.isArray(fields)) {
    for (const f of fields) {
      if (typeof f === 'string') add(f, err.message);
      else if (f && typeof f === 'object') {
        const o = f as Record<string, unknown>;
        add(o.field ?? o.path ?? o.name, o.message ?? o.reason);
      }
    }
  } else if (fields && typeof fields === 'object') {
    for (const [f, m] of Object.entries(fields as Record<string, unknown>)) add(f, m);
  }
  return out;
}

/**
 * `/disks/0/size_gib`, `disks[0].size_gib`, `body.disks.0.size_gib` → `disks.0.size_gib`: one
 * spelling for form fields, whichever the engine (JSON pointer or dotted path) used.
 */
export function normalizeField(field: string): string {
  return field
    .replace(/^\/+/, '')
    .replace(/^body[./]/, '')
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/\//g, '.')
    .replace(/^\.+|\.+$/g, '');
}
