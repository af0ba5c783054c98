import { VireoClientError } from './errors';

/** The path every resource lives under. */
export const API_PREFIX = '/api/v1';

/**
 * Normalises what a user typed (`https://engine:8443`, `https://engine:8443/api/v1/`) to the API
 * base URL `https://engine:8443/api/v1`. URLs carrying credentials, a query or a fragment are
 * refused: credentials in URLs leak into shell history and error messages.
 */
export function normalizeBaseUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input.includes('://') ? input : `https://${input}`);
  } catch (cause) {
    throw new VireoClientError('invalid_argument', `not a valid URL: ${JSON.stringify(input)}`, { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new VireoClientError('invalid_argument', `unsupported URL scheme ${url.protocol} (use https://)`);
  }
  if (url.username || url.password) {
    throw new VireoClientError('invalid_argument', 'the URL must not contain a user name or password');
  }
  if (url.search || url.hash) {
    throw new VireoClientError('invalid_argument', 'the URL must not contain a query or fragment');
  }
  let path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith(API_PREFIX)) path += API_PREFIX;
  url.pathname = path;
  return url;
}

/** Builds `base + path + ?query`, dropping undefined values. */
export function buildUrl(
  base: URL,
  path: string,
  query?: Record<string, string | number | boolean | readonly string[] | undefined>,
): string {
  const url = new URL(base.href);
  url.pathname = `${base.pathname}${path.startsWith('/') ? path : `/${path}`}`;
  if (query) {
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, String(v));
      else url.searchParams.set(key, String(value));
    }
  }
  return url.href;
}

/** Path segment for an id or action name, safe against `/` and `..` in user input. */
export function segment(value: string): string {
  if (value === '' || value === '.' || value === '..') {
    throw new VireoClientError('invalid_argument', `invalid path segment ${JSON.stringify(value)}`);
  }
  return encodeURIComponent(value);
}
