import { type AgentErrorCode, isAgentErrorCode } from '@vireo/agent-protocol';

/**
 * The agent's one error type. `code` is a stable `AgentErrorCode` and travels to the engine in
 * JSON-RPC `error.data.code`; `details` are machine-readable facts (never secrets).
 */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: AgentErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

/** QMP client codes mapped onto the agent's codes (the QMP layer has finer distinctions). */
const QMP_CODES: Record<string, AgentErrorCode> = {
  qmp_timeout: 'qmp_timeout',
  qmp_connect_failed: 'qemu_failed',
  qmp_disconnected: 'qemu_failed',
  qmp_protocol: 'qmp_error',
  qmp_command_failed: 'qmp_error',
};

/** Storage (qemu-img, hostile-image gate) codes mapped onto the agent's. */
const STORAGE_CODES: Record<string, AgentErrorCode> = {
  image_not_found: 'image_not_found',
  volume_not_found: 'image_not_found',
  volume_exists: 'image_exists',
  path_outside_domain: 'path_not_allowed',
  invalid_volume_name: 'invalid_params',
};

/**
 * Turns anything thrown into an `AgentError`, keeping it as `cause`. Errors of the other agent
 * modules (argv builder, QMP client, storage) carry their own `code`; known ones keep their meaning,
 * unknown ones become `internal_error` so the engine never sees an unlisted code.
 */
export function toAgentError(err: unknown, context?: string): AgentError {
  if (err instanceof AgentError) return err;
  const coded = err as { code?: unknown; details?: unknown; message?: unknown } | null;
  const message = typeof coded?.message === 'string' ? coded.message : String(err);
  const text = context ? `${context}: ${message}` : message;
  const details =
    coded && typeof coded.details === 'object' && coded.details !== null
      ? (coded.details as Record<string, unknown>)
      : undefined;
  const raw = typeof coded?.code === 'string' ? coded.code : undefined;
  let code: AgentErrorCode = 'internal_error';
  if (raw && isAgentErrorCode(raw)) code = raw;
  else if (raw && QMP_CODES[raw]) code = QMP_CODES[raw];
  else if (raw && STORAGE_CODES[raw]) code = STORAGE_CODES[raw];
  else if (raw?.startsWith('image_')) code = 'image_invalid';
  else if (raw === 'ENOENT') code = 'image_not_found';
  return new AgentError(code, text, { cause: err, details });
}

/** Wraps with context but keeps a coded error's code: `starting VM web1: <reason>`. */
export function wrap(err: unknown, context: string): AgentError {
  const inner = toAgentError(err);
  return new AgentError(inner.code, `${context}: ${inner.message}`, { cause: err, details: inner.details });
}
