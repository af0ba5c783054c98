import type { ColumnType, Generated, Selectable } from 'kysely';

export type SnapshotState = 'creating' | 'ok' | 'in_preview' | 'deleting' | 'illegal';

/** `snapshots` (migrations/0011_snapshots.sql). */
export interface SnapshotsTable {
  id: Generated<string>;
  vm_id: ColumnType<string, string, never>;
  description: Generated<string>;
  memory: Generated<boolean>;
  memory_domain_id: ColumnType<string | null, string | null | undefined, string | null>;
  state: Generated<SnapshotState>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

/** `snapshot_volumes`: per disk, the volume a snapshot froze (and, in preview, the overlays). */
export interface SnapshotVolumesTable {
  snapshot_id: ColumnType<string, string, never>;
  disk_id: ColumnType<string, string, never>;
  volume_id: string;
  preview_volume_id: ColumnType<string | null, string | null | undefined, string | null>;
  previous_volume_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface SnapshotTables {
  snapshots: SnapshotsTable;
  snapshot_volumes: SnapshotVolumesTable;
}

export type SnapshotRow = Selectable<SnapshotsTable>;
export type SnapshotVolumeRow = Selectable<SnapshotVolumesTable>;
