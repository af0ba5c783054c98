import type { ColumnType, Generated, Selectable } from 'kysely';

/** `datacenters` (migrations/0003_inventory.sql). */
export interface DatacentersTable {
  id: Generated<string>;
  name: string;
  description: Generated<string>;
  storage_format: Generated<string>;
  compatibility_version: Generated<string>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

/** `clusters`: always inside one data center. */
export interface ClustersTable {
  id: Generated<string>;
  datacenter_id: ColumnType<string, string, never>;
  name: string;
  description: Generated<string>;
  cpu_type: Generated<string>;
  memory_overcommit_percent: Generated<number>;
  scheduling_policy: Generated<string>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export interface InventoryTables {
  datacenters: DatacentersTable;
  clusters: ClustersTable;
}

export type DatacenterRow = Selectable<DatacentersTable>;
export type ClusterRow = Selectable<ClustersTable>;
