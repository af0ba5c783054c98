import type { ColumnType, Generated, Selectable } from 'kysely';

/** `storage_domains` (migrations/0009_storage_domains.sql). */
export interface StorageDomainsTable {
  id: Generated<string>;
  name: string;
  description: Generated<string>;
  kind: ColumnType<'data' | 'iso' | 'export', 'data' | 'iso' | 'export', never>;
  backend: ColumnType<'local' | 'posix' | 'nfs', 'local' | 'posix' | 'nfs', never>;
  datacenter_id: ColumnType<string | null, string | null | undefined, string | null>;
  host_id: ColumnType<string | null, string | null | undefined, never>;
  path: ColumnType<string, string, never>;
  nfs_server: ColumnType<string | null, string | null | undefined, never>;
  nfs_export: ColumnType<string | null, string | null | undefined, never>;
  mount_options: ColumnType<string | null, string | null | undefined, never>;
  state: Generated<StorageDomainState>;
  state_reason: Generated<string>;
  format_version: Generated<number>;
  total_bytes: ColumnType<number | null, never, number | null>;
  free_bytes: ColumnType<number | null, never, number | null>;
  capacity_checked_at: ColumnType<Date | null, never, Date | null>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export type StorageDomainState = 'unattached' | 'active' | 'maintenance' | 'inactive' | 'locked';

/** `engine_identity`: the single row naming this engine in the domains it owns. */
export interface EngineIdentityTable {
  singleton: Generated<boolean>;
  id: ColumnType<string, never, never>;
  created_at: ColumnType<Date, never, never>;
}

export interface StorageTables {
  storage_domains: StorageDomainsTable;
  engine_identity: EngineIdentityTable;
}

export type StorageDomainRow = Selectable<StorageDomainsTable>;
