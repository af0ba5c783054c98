import { ApiError, VireoClientError } from '@vireo/client';

/**
 * Process exit codes of `vireo` (documented in docs/cli.md; scripts rely on them, so a code's
 * meaning never changes).
 */
export const ExitCode = {
  ok: 0,
  apiError: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  operationFailed: 5,
  connection: 6,
  timeout: 7,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error raised by the CLI itself, with the code printed as `Error [code]` and an exit code. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A usage mistake (bad flag value, missing argument): exit 2. */
export function usageError(message: string, code = 'usage_error'): CliError {
  return new CliError(code, message, ExitCode.usage);
}

export interface ReportedError {
  code: string;
  message: string;
  exitCode: number;
}

/** Maps anything thrown while running a command to the code, message and exit status shown. */
export function describeError(err: unknown): ReportedError {
  if (err instanceof CliError) return { code: err.code, message: err.message, exitCode: err.exitCode };
  if (err instanceof ApiError) {
    let exitCode: number = ExitCode.apiError;
    if (err.status === 404 || err.code.endsWith('_not_found')) exitCode = ExitCode.notFound;
    else if (err.status === 401 || err.status === 403 || err.code === 'too_many_login_attempts') {
      exitCode = ExitCode.auth;
    }
    let message = err.message;
    if (err.code === 'token_expired' || err.code === 'invalid_token')
      message += ' (log in again: vireo login)';
    return { code: err.code, message, exitCode };
  }
  if (err instanceof VireoClientError) {
    const exitCode =
      err.code === 'tls_error' || err.code === 'connection_failed'
        ? ExitCode.connection
        : err.code === 'timeout' || err.code === 'operation_timeout'
          ? ExitCode.timeout
          : err.code === 'aborted'
            ? ExitCode.interrupted
            : err.code === 'invalid_argument'
              ? ExitCode.usage
              : ExitCode.apiError;
    return { code: err.code, message: err.message, exitCode };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal_error', message, exitCode: ExitCode.apiError };
}
