import { type Static, Type } from '@sinclair/typebox';

/**
 * Every error code the engine may answer with, listed once. Codes are stable API: clients branch on
 * them, so a code is never reused for a different meaning and never renamed. Append new codes; keep
 * them snake_case and specific (`datacenter_not_found`, not `not_found`).
 */
export const ERROR_CODES = [
  // Request shape (400, 413, 415, 404, 405)
  'invalid_input',
  'invalid_json',
  'invalid_cursor',
  'invalid_sort',
  'invalid_url',
  'payload_too_large',
  'unsupported_media_type',
  'route_not_found',
  'method_not_allowed',
  // Authentication and authorization (401, 403, 429)
  'unauthenticated',
  'invalid_credentials',
  'invalid_token',
  'token_expired',
  'too_many_login_attempts',
  'csrf_header_required',
  'forbidden',
  // Optimistic concurrency (428, 412)
  'precondition_required',
  'etag_mismatch',
  // Inventory
  'datacenter_not_found',
  'datacenter_name_taken',
  'datacenter_not_empty',
  'cluster_not_found',
  'cluster_name_taken',
  'cluster_not_empty',
  // VMs
  'vm_not_found',
  'vm_name_taken',
  'vm_not_down',
  'vm_invalid_state',
  'no_host_available',
  'vm_action_failed',
  'vm_action_superseded',
  'vm_not_bootable',
  // Operations and events (engine-ops)
  'operation_not_found',
  'operation_not_cancellable',
  'operation_type_unknown',
  'event_not_found',
  'invalid_last_event_id',
  'operation_finished',
  'engine_restarted',
  'operation_retries_exhausted',
  'purge_before_too_recent',
  // Hosts and their agents (hosts)
  'host_not_found',
  'host_name_taken',
  'host_not_connected',
  'host_not_in_maintenance',
  'host_has_vms',
  'agent_timeout',
  'agent_error',
  'join_token_invalid',
  'too_many_join_attempts',
  'invalid_public_key',
  // SSH host deploy (ssh-deploy)
  'ssh_connect_failed',
  'ssh_auth_failed',
  'hostkey_mismatch',
  'unsupported_os',
  'package_install_failed',
  'agent_start_failed',
  // Image transfers (uploads): the image_* codes are the hostile-image gate's refusals
  'image_transfer_not_found',
  'transfer_invalid_state',
  'transfer_offset_mismatch',
  'transfer_busy',
  'transfer_incomplete',
  'transfer_expired',
  'invalid_content_range',
  'checksum_mismatch',
  'iso_file_exists',
  'image_has_backing_file',
  'image_has_data_file',
  'image_json_filename',
  'image_too_large',
  'image_corrupt',
  'image_format_mismatch',
  'image_unsupported',
  'image_external_extent',
  // Storage domains (domains)
  'storage_domain_not_found',
  'storage_domain_name_taken',
  'storage_domain_state_invalid',
  'storage_domain_attached',
  'storage_domain_not_empty',
  'storage_domain_in_use',
  'storage_domain_foreign',
  'storage_domain_unreachable',
  'iso_not_found',
  // The host serves the domain in a mode that cannot do this yet (nfs without a kernel client)
  'storage_feature_unavailable',
  // Snapshots (snapshots)
  'snapshot_not_found',
  'snapshot_busy',
  'snapshot_in_preview',
  'no_snapshot_in_preview',
  'vm_has_no_disks',
  // Disks (disks)
  'disk_not_found',
  'disk_locked',
  'disk_illegal',
  'disk_in_use',
  'disk_attached',
  'disk_not_attached',
  'disk_shrink_not_allowed',
  'disk_has_snapshots',
  'no_data_domain',
  'no_host_for_storage',
  // Templates (templates)
  'template_not_found',
  'template_name_taken',
  'template_locked',
  'template_in_use',
  'seal_unavailable',
  // Export and import (export)
  'ovf_invalid',
  'ova_invalid',
  'export_not_found',
  'export_exists',
  'name_in_use',
  'id_in_use',
  // Domain registration (domain-import)
  'unregistered_not_found',
  'registration_refused',
  // Consoles (headless): the VM as it runs has no such console
  'console_unavailable',
  // Engine health (503, 500)
  'database_unavailable',
  'unavailable',
  'internal_error',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The body of every 4xx/5xx answer: `{"error":{"code","message","details"}}`. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({
        description: `Stable snake_case code; programs branch on it. One of: ${ERROR_CODES.join(', ')}.`,
      }),
      message: Type.String({ description: 'Human-readable explanation; not for programs to parse.' }),
      details: Type.Record(Type.String(), Type.Unknown(), {
        description: 'Structured context: the failing field path, blocking objects, limits, …',
      }),
    }),
  },
  { $id: 'ErrorBody', description: 'Error answer' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** One schema violation reported in `details.errors` of an `invalid_input` answer. */
export interface FieldError {
  /** Where: `body`, `querystring`, `params` or `headers`. */
  in: string;
  /** JSON Pointer into that part of the request (`/name`), empty for the whole part. */
  path: string;
  message: string;
}
