import type { ColumnType, Generated, Selectable } from 'kysely';

/** jsonb: objects come back parsed; writes pass JSON text. */
type Json<T> = ColumnType<T, string, string>;

/** One NIC as stored in `vms.nics`. */
export interface VmNicJson {
  type: 'user';
  mac: string;
}

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

/** `vm_disks`: blank images the agent creates on the VM's first start. */
export interface VmDisksTable {
  id: Generated<string>;
  vm_id: ColumnType<string, string, never>;
  position: number;
  size_gib: number;
  format: string;
  interface: string;
  bootable: boolean;
  path: string | null;
  created_at: ColumnType<Date, never, never>;
}

export interface VmTables {
  vms: VmsTable;
  vm_disks: VmDisksTable;
}

export type VmRow = Selectable<VmsTable>;
export type VmDiskRow = Selectable<VmDisksTable>;
