import type { ColumnType, Generated, Selectable } from 'kysely';

export type ImageTransferDirection = 'upload' | 'download';
export type ImageTransferFormat = 'raw' | 'qcow2' | 'iso';
export type ImageTransferStateValue =
  | 'initializing'
  | 'transferring'
  | 'finalizing'
  | 'finished'
  | 'failed'
  | 'cancelled';

/** `image_transfers` (migrations/0012_image_transfers.sql). */
export interface ImageTransfersTable {
  id: Generated<string>;
  direction: ColumnType<ImageTransferDirection, ImageTransferDirection, never>;
  storage_domain_id: ColumnType<string, string, never>;
  disk_id: ColumnType<string | null, string | null | undefined, never>;
  volume_id: ColumnType<string | null, string | null | undefined, never>;
  iso_file: ColumnType<string | null, string | null | undefined, never>;
  created_disk: ColumnType<boolean, boolean | undefined, never>;
  format: ColumnType<ImageTransferFormat, ImageTransferFormat, never>;
  state: Generated<ImageTransferStateValue>;
  /** bigint (the connection parses int8 as a number). */
  bytes_done: Generated<number>;
  size_bytes: number;
  sha256: string | null;
  host_id: string | null;
  operation_id: string | null;
  /** jsonb {code, message, details?}: objects come back parsed; writes pass JSON text. */
  error: ColumnType<
    { code: string; message: string; details?: Record<string, unknown> } | null,
    string | null | undefined,
    string | null
  >;
  created_by: ColumnType<string | null, string | null | undefined, never>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
  finished_at: ColumnType<Date | null, never, Date | null>;
}

export type ImageTransferRow = Selectable<ImageTransfersTable>;

export interface TransferTables {
  image_transfers: ImageTransfersTable;
}
