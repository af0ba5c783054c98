/** Codes of the errors the spec validator and the argv builder throw. Stable: callers match on them. */
export type ArgvErrorCode = 'invalid_vm_spec' | 'invalid_launch_plan';

/**
 * A VM spec or launch plan that cannot become a safe QEMU command line. `details.path` points at the
 * offending field (JSON-pointer style, e.g. `/disks/1/path`).
 */
export class ArgvError extends Error {
  override readonly name = 'ArgvError';
  readonly code: ArgvErrorCode;
  readonly details: { path: string } & Record<string, unknown>;

  constructor(
    code: ArgvErrorCode,
    message: string,
    details: { path: string } & Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/** Shorthand for the common case: a spec field is wrong. */
export function invalidSpec(path: string, message: string, extra: Record<string, unknown> = {}): ArgvError {
  return new ArgvError('invalid_vm_spec', message, { path, ...extra });
}

/** Shorthand: the launch plan (host side) is wrong or does not fit the spec. */
export function invalidPlan(path: string, message: string, extra: Record<string, unknown> = {}): ArgvError {
  return new ArgvError('invalid_launch_plan', message, { path, ...extra });
}
