import type { ErrorCode } from '@vireo/api';

/** Structured context attached to an error answer (`error.details`). Never put secrets here. */
export type ErrorDetails = Record<string, unknown>;

export interface VireoErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
}

/**
 * Base of every error the engine raises on purpose. It carries a stable {@link ErrorCode} and the
 * HTTP status it maps to; the one error handler in http/plugins/errors.ts turns it into
 * `{"error":{"code","message","details"}}`. Messages are shown to users: say what failed and what
 * to do, never include secrets. Anything that is not a VireoError answers `internal_error` (500).
 */
export class VireoError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(status: number, code: ErrorCode, message: string, options: VireoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** The request is malformed or breaks a rule (400). */
export class InvalidInput extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(400, code, message, options);
  }
}

/** No valid credentials (401). */
export class Unauthenticated extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(401, code, message, options);
  }
}

/** Valid credentials, but this principal may not do this (403). */
export class Forbidden extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(403, code, message, options);
  }
}

/** The object (or route) does not exist (404). */
export class NotFound extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(404, code, message, options);
  }
}

/** The method is not defined for this path (405). */
export class MethodNotAllowed extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(405, code, message, options);
  }
}

/** The request conflicts with the current state: duplicate name, non-empty parent (409). */
export class Conflict extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(409, code, message, options);
  }
}

/** `If-Match` does not match the object's current ETag (412). */
export class PreconditionFailed extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(412, code, message, options);
  }
}

/** The request body is larger than the engine accepts (413). */
export class PayloadTooLarge extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(413, code, message, options);
  }
}

/** The request body's media type is not accepted (415). */
export class UnsupportedMediaType extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(415, code, message, options);
  }
}

/** A precondition header (`If-Match`) is required but missing (428). */
export class PreconditionRequired extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(428, code, message, options);
  }
}

/** Slow down; `retryAfterSeconds` becomes the `Retry-After` header (429). */
export class TooManyRequests extends VireoError {
  readonly retryAfterSeconds: number;
  constructor(code: ErrorCode, message: string, retryAfterSeconds: number, options?: VireoErrorOptions) {
    super(429, code, message, {
      ...options,
      details: { retry_after_seconds: retryAfterSeconds, ...options?.details },
    });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A dependency (database, agent) is not reachable right now; retrying later may work (503). */
export class Unavailable extends VireoError {
  constructor(code: ErrorCode, message: string, options?: VireoErrorOptions) {
    super(503, code, message, options);
  }
}

export function isVireoError(err: unknown): err is VireoError {
  return err instanceof VireoError;
}
