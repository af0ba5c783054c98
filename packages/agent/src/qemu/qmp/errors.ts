/**
 * Stable codes of QMP failures:
 * - `qmp_connect_failed`: the socket is missing or refuses connections (QEMU not running).
 * - `qmp_timeout`: no greeting, reply or awaited event in time.
 * - `qmp_disconnected`: the connection closed (QEMU exited, or `close()`), before or while waiting.
 * - `qmp_command_failed`: QEMU answered with an error; `details.class` / `details.desc` are QEMU's.
 * - `qmp_protocol`: the peer broke the protocol (not JSON, oversized line, bad greeting).
 */
export type QmpErrorCode =
  | 'qmp_connect_failed'
  | 'qmp_timeout'
  | 'qmp_disconnected'
  | 'qmp_command_failed'
  | 'qmp_protocol';

export interface QmpErrorDetails {
  /** The command being executed, when the error concerns one. */
  command?: string;
  /** The event being awaited, for `waitForEvent` timeouts. */
  event?: string;
  /** QEMU's error class, e.g. `GenericError`, `DeviceNotFound` (`qmp_command_failed` only). */
  class?: string;
  /** QEMU's human-readable error description (`qmp_command_failed` only). */
  desc?: string;
  socketPath?: string;
  timeoutMs?: number;
}

/** Every failure of the QMP client. Match on `code`; `cause` keeps the underlying socket error. */
export class QmpError extends Error {
  override readonly name = 'QmpError';
  readonly code: QmpErrorCode;
  readonly details: QmpErrorDetails;

  constructor(
    code: QmpErrorCode,
    message: string,
    details: QmpErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}
