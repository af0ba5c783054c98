/**
 * Error family of the REST client. Every failure a caller can see is a {@link VireoClientError}
 * with a stable snake_case `code`; failures the engine reported are {@link ApiError}s that also
 * carry the HTTP status and the engine's `details`.
 *
 * Messages never include tokens, passwords or request bodies: they end up in terminals and logs.
 */

/** Codes for failures that happen on the client side of the wire. */
export type ClientErrorCode =
  | 'connection_failed'
  | 'tls_error'
  | 'timeout'
  | 'aborted'
  | 'invalid_response'
  | 'invalid_argument'
  | 'operation_timeout'
  | 'not_authenticated';

/** Base class of every error the client throws. */
export class VireoClientError extends Error {
  /** Stable snake_case code: a client code, or the engine's error code for an {@link ApiError}. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VireoClientError';
    this.code = code;
  }
}

/** The engine answered with an error body `{"error":{"code","message","details"}}`. */
export class ApiError extends VireoClientError {
  /** HTTP status of the response. */
  readonly status: number;
  /** Structured details the engine attached (field errors, conflicting ids, …). */
  readonly details: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
  }
}

/** True for errors raised because the caller's AbortSignal fired. */
export function isAbortError(err: unknown): boolean {
  if (err instanceof VireoClientError) return err.code === 'aborted';
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

// OpenSSL and Node report certificate problems under these codes; anything else below fetch()
// is a plain connection problem.
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|TLS|SSL|HOSTNAME|ALTNAME/;

function findCode(err: unknown): { code?: string; message?: string } {
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 6; depth++) {
    const c = cur as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof c.code === 'string' && c.code !== 'UND_ERR_SOCKET' && !/^ERR_INVALID/.test(c.code)) {
      return { code: c.code, message: typeof c.message === 'string' ? c.message : undefined };
    }
    cur = c.cause;
  }
  return {};
}

/**
 * Turns whatever fetch() threw into a coded client error. `origin` is scheme://host:port only,
 * never a full URL with a query string (which could hold a cursor or a search term).
 */
export function wrapTransportError(err: unknown, origin: string, signal?: AbortSignal): VireoClientError {
  if (err instanceof VireoClientError) return err;
  if (signal?.aborted || (err instanceof Error && err.name === 'AbortError')) {
    return new VireoClientError('aborted', `request to ${origin} was aborted`, { cause: err });
  }
  if (err instanceof Error && err.name === 'TimeoutError') {
    return new VireoClientError('timeout', `request to ${origin} timed out`, { cause: err });
  }
  const { code, message } = findCode(err);
  if (code && TLS_CODE.test(code)) {
    return new VireoClientError(
      'tls_error',
      `TLS verification of ${origin} failed (${code}${message && message !== code ? `: ${message}` : ''})`,
      { cause: err },
    );
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') {
    return new VireoClientError('timeout', `request to ${origin} timed out (${code})`, { cause: err });
  }
  const why = code ?? (err instanceof Error ? err.message : String(err));
  return new VireoClientError('connection_failed', `cannot reach ${origin} (${why})`, { cause: err });
}
