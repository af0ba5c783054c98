import type { ColumnType, Generated, Selectable } from 'kysely';

export type DiskFormat = 'qcow2' | 'raw';
export type DiskPreallocation = 'off' | 'metadata' | 'falloc' | 'full';
export type DiskState = 'ok' | 'locked' | 'illegal';
export type VolumeState = 'ok' | 'merging' | 'illegal' | 'locked';
export type DiskInterface = 'virtio' | 'scsi' | 'ide' | 'sata';

/** `disks` (migrations/0010_disks.sql). */
export interface DisksTable {
  id: Generated<string>;
  name: string;
  description: Generated<string>;
  storage_domain_id: string;
  /** bigint (the connection parses int8 as a number). */
  size_bytes: number;
  format: ColumnType<DiskFormat, DiskFormat, never>;
  preallocation: ColumnType<DiskPreallocation, DiskPreallocation | undefined, never>;
  shareable: ColumnType<boolean, boolean | undefined, never>;
  /** LUKS in qcow2 (0014); set only with its `disk_keys` row, by secrets/disk-key-store.ts. */
  encrypted: ColumnType<boolean, never, never>;
  state: Generated<DiskState>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

/** `volumes`: the layers of a disk; exactly one `active` leaf per disk. */
export interface VolumesTable {
  id: Generated<string>;
  disk_id: ColumnType<string, string, never>;
  parent_id: ColumnType<string | null, string | null | undefined, string | null>;
  format: ColumnType<DiskFormat, DiskFormat, never>;
  active: Generated<boolean>;
  state: Generated<VolumeState>;
  size_bytes: number;
  on_storage: Generated<boolean>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

/** `vm_disk_attachments`: which disks a VM has, in guest order. */
export interface VmDiskAttachmentsTable {
  vm_id: ColumnType<string, string, never>;
  disk_id: ColumnType<string, string, never>;
  position: number;
  interface: DiskInterface;
  bootable: Generated<boolean>;
  active: Generated<boolean>;
  created_at: ColumnType<Date, never, never>;
}

export interface DiskTables {
  disks: DisksTable;
  volumes: VolumesTable;
  vm_disk_attachments: VmDiskAttachmentsTable;
}

export type DiskRow = Selectable<DisksTable>;
export type VolumeRow = Selectable<VolumesTable>;
export type VmDiskAttachmentRow = Selectable<VmDiskAttachmentsTable>;
