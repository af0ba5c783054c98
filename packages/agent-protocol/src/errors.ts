import { type Static, Type } from '@sinclair/typebox';

/**
 * Stable error codes an agent returns in JSON-RPC `error.data.code`. Append only: callers (the
 * engine, tests, people's scripts) match on them, so a code is never renamed or reused.
 */
export const AGENT_ERROR_CODES = [
  // Transport and JSON-RPC level.
  'parse_error',
  'invalid_request',
  'method_not_found',
  'invalid_params',
  'internal_error',
  'hello_required',
  'protocol_mismatch',
  'too_many_requests',
  // VM lifecycle.
  'vm_not_found',
  'vm_exists',
  'vm_busy',
  'invalid_vm_state',
  'vm_damaged',
  'invalid_vm_spec',
  'action_cancelled',
  // Storage and paths.
  'image_not_found',
  'image_invalid',
  'image_exists',
  'path_not_allowed',
  // Devices.
  'device_not_found',
  'device_exists',
  // Host side.
  'network_failed',
  'bridge_not_found',
  'console_unavailable',
  'no_free_port',
  'qemu_failed',
  'qmp_timeout',
  'qmp_error',
  'unsupported',
  // Image transfers and the hostile-image gate (each refusal keeps its own code).
  'image_has_backing_file',
  'image_has_data_file',
  'image_json_filename',
  'image_too_large',
  'image_corrupt',
  'image_format_mismatch',
  'image_unsupported',
  'image_external_extent',
  'transfer_not_found',
  'transfer_busy',
  'transfer_incomplete',
  'checksum_mismatch',
  // Storage domains.
  'storage_domain_foreign',
  'storage_domain_not_active',
  'storage_unreachable',
  'storage_metadata_invalid',
  // Volumes (storage domains).
  'volume_in_use',
  // Snapshots and merges.
  'merge_pending',
  'merge_failed',
  // Disk encryption: the key given does not open the LUKS header.
  'encryption_key_invalid',
  // Domain files and OVA archives (export.ts).
  'file_not_found',
  'file_too_large',
  'ova_invalid',
  // A saved memory state QEMU refused to load (vm.start restore_memory).
  'memory_restore_failed',
  // The host serves the storage domain in a mode that cannot do this (an nfs domain in userspace
  // mode, without a kernel NFS client): the engine answers 409 with the same code.
  'storage_feature_unavailable',
  // Template sealing (volume.seal): the appliance is not installed, or it could not seal the volume
  // (`details.reason`: no_root_fs, no_disk, write_failed, timeout, …).
  'seal_unavailable',
  'seal_failed',
] as const;

export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];

export const AgentErrorCodeSchema = Type.Union(AGENT_ERROR_CODES.map((c) => Type.Literal(c)));

/** What travels in JSON-RPC `error.data`. */
export const AgentErrorDataSchema = Type.Object(
  {
    code: AgentErrorCodeSchema,
    /** Machine-readable facts about the failure (`path` of a bad spec field, the busy action…). */
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type AgentErrorData = Static<typeof AgentErrorDataSchema>;

/** JSON-RPC 2.0 reserved error numbers, plus the one server-error number agents use for the rest. */
export const JSONRPC_ERROR = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Every application error: the real reason is `error.data.code`. */
  serverError: -32000,
} as const;

/** The JSON-RPC `error.code` number that goes with an agent error code. */
export function jsonRpcNumberFor(code: AgentErrorCode): number {
  switch (code) {
    case 'parse_error':
      return JSONRPC_ERROR.parseError;
    case 'invalid_request':
      return JSONRPC_ERROR.invalidRequest;
    case 'method_not_found':
      return JSONRPC_ERROR.methodNotFound;
    case 'invalid_params':
      return JSONRPC_ERROR.invalidParams;
    case 'internal_error':
      return JSONRPC_ERROR.internalError;
    default:
      return JSONRPC_ERROR.serverError;
  }
}

export function isAgentErrorCode(value: unknown): value is AgentErrorCode {
  return typeof value === 'string' && (AGENT_ERROR_CODES as readonly string[]).includes(value);
}
