import type { ColumnType, Selectable } from 'kysely';

/** `domain_metadata_files` (migrations/0016_domain_registration.sql): what the OVF store last wrote. */
export interface DomainMetadataFilesTable {
  storage_domain_id: ColumnType<string, string, never>;
  /** Relative to the domain's `master/`: `disks/<disk id>.json` or `vms/<vm id>.ovf`. */
  path: ColumnType<string, string, never>;
  /** sha256 (hex) of the content written. */
  digest: string;
  written_at: ColumnType<Date, Date | undefined, Date>;
}

export interface OvfStoreTables {
  domain_metadata_files: DomainMetadataFilesTable;
}

export type DomainMetadataFileRow = Selectable<DomainMetadataFilesTable>;
