import { type Static, Type } from '@sinclair/typebox';
import { Timestamp, Uuid } from './common';
import { Operation } from './operations';

export const SNAPSHOT_STATES = ['creating', 'ok', 'in_preview', 'deleting', 'illegal'] as const;

/** One disk's part of a snapshot: the volume that froze when the snapshot was taken. */
export const SnapshotDisk = Type.Object(
  {
    disk_id: Uuid,
    volume_id: Uuid,
    /** While previewing: the throw-away overlay the VM runs on. */
    preview_volume_id: Type.Union([Uuid, Type.Null()]),
  },
  { additionalProperties: false },
);

export const Snapshot = Type.Object(
  {
    id: Uuid,
    vm_id: Uuid,
    description: Type.String(),
    /** The RAM and device state were saved too. */
    memory: Type.Boolean(),
    state: Type.Union(
      SNAPSHOT_STATES.map((s) => Type.Literal(s)),
      {
        description:
          'creating; ok; in_preview (the VM runs on an overlay of it); deleting (its merge runs); illegal (a step failed: delete it again to finish the merge)',
      },
    ),
    disks: Type.Array(SnapshotDisk),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type Snapshot = Static<typeof Snapshot>;

export const SnapshotList = Type.Object(
  { items: Type.Array(Snapshot) },
  { description: "A VM's snapshots, oldest first" },
);
export type SnapshotList = Static<typeof SnapshotList>;

export const SnapshotCreate = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 4096 })),
    /** Save the RAM and device state as well (the VM must be running; it pauses while it is saved). */
    memory: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SnapshotCreate = Static<typeof SnapshotCreate>;

export const SnapshotAccepted = Type.Object(
  { operation: Type.Ref(Operation), snapshot: Snapshot },
  { description: 'Accepted: the snapshot work goes on as this operation' },
);
export type SnapshotAccepted = Static<typeof SnapshotAccepted>;

export const SnapshotParams = Type.Object({ id: Uuid, sid: Uuid }, { additionalProperties: false });
export type SnapshotParams = Static<typeof SnapshotParams>;
