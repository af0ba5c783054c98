import type { ColumnType, Generated, Selectable } from 'kysely';

/** jsonb: objects come back parsed; writes pass JSON text. */
type Json<T> = ColumnType<T, string, string>;

/** One NIC as stored in `vms.nics`. */
export type VmNicJson =
  | { type: 'user'; mac: string; model?: VmNicModel }
  /** On an existing host bridge: the agent makes a tap port on it. */
  | { type: 'bridge'; bridge: string; mac: string; model?: VmNicModel };
type VmNicModel = 'virtio' | 'e1000' | 'rtl8139';

/** `vms` (migrations/0007_vms.sql). `state` is observed (monitor only); `desired_state` is ours. */
export interface VmsTable {
  id: Generated<string>;
  name: string;
  cluster_id: ColumnType<string, string, never>;
  host_id: ColumnType<string | null, string | null | undefined, string | null>;
  desired_state: Generated<string>;
  state: Generated<string>;
  state_reason: Generated<string>;
  state_changed_at: ColumnType<Date, never, Date>;
  cpus: number;
  memory_mib: number;
  os_type: string;
  boot_order: Json<string[]>;
  cdrom_image: string | null;
  /** The CD-ROM's ISO domain and file (0009_storage_domains.sql); both null or both set. */
  cdrom_storage_domain_id: Generated<string | null>;
  cdrom_file: Generated<string | null>;
  nics: Json<VmNicJson[]>;
  console_type: Generated<string>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export interface VmTables {
  vms: VmsTable;
}

export type VmRow = Selectable<VmsTable>;
