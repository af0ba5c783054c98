import type { ImageTransfer } from '@vireo/api';

/**
 * An ISO upload the engine has just accepted (nothing received yet), as `GET /image-transfers/{id}`
 * returns it; `over` sets what a case needs.
 */
export function isoUpload(
  over: Partial<ImageTransfer> & Pick<ImageTransfer, 'storage_domain_id'>,
): ImageTransfer {
  return {
    id: 't1',
    direction: 'upload',
    state: 'transferring',
    disk_id: null,
    iso_file: null,
    format: 'iso',
    size_bytes: 0,
    bytes_done: 0,
    sha256: null,
    host_id: null,
    operation_id: null,
    error: null,
    data_url: '',
    created_at: '',
    updated_at: '',
    finished_at: null,
    ...over,
  };
}
