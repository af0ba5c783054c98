/**
 * Stable codes of storage failures. The `image_*` codes come from the hostile-image gate
 * (`inspectUntrustedImage`) and are meant to be shown to the user who supplied the image.
 */
export type StorageErrorCode =
  | 'image_has_backing_file'
  | 'image_has_data_file'
  | 'image_json_filename'
  | 'image_too_large'
  | 'image_corrupt'
  | 'image_format_mismatch'
  | 'image_unsupported'
  | 'image_external_extent'
  | 'image_not_found'
  | 'qemu_img_failed'
  | 'qemu_img_timeout'
  | 'invalid_volume_name'
  | 'path_outside_domain'
  | 'volume_exists'
  | 'volume_not_found'
  | 'unknown_storage_driver'
  | 'invalid_storage_config'
  | 'encryption_key_invalid';

/** Every storage failure. `details` carries what a caller or a person needs to act on it. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: StorageErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}
