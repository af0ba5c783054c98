import { type Static, Type } from '@sinclair/typebox';
import { DeviceIdString, EncryptionSecretString, HostPathString, UuidString } from './vm-spec';

const strict = { additionalProperties: false } as const;

/**
 * Snapshots and merges. Volumes are addressed by host path: the engine resolves them with
 * `volumePath(domain, disk_id, volume_id)`, and the agent only accepts paths inside its allowed
 * image directories (active storage domain roots). A disk's volumes share one directory, so a
 * volume's backing file is recorded in its header by file name only.
 */

export const SnapshotDiskSchema = Type.Object(
  {
    /** The VM spec's disk id (`VmDisk.id`). */
    disk_id: DeviceIdString,
    /** The new active volume to create: a qcow2 overlay on the disk's current active volume. */
    new_volume_path: HostPathString,
    format: Type.Literal('qcow2'),
    /**
     * The disk's key (base64), required exactly when the disk is encrypted: the new overlay is
     * created LUKS-encrypted with it (by qemu-img, through a 0600 file, before the guest is paused).
     * QEMU opens the overlay with the secret object it already holds for the disk.
     */
    encryption: Type.Optional(Type.Object({ secret: EncryptionSecretString }, strict)),
  },
  strict,
);
export type SnapshotDisk = Static<typeof SnapshotDiskSchema>;

export const VmSnapshotParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    /** Every disk to snapshot; all of them switch to their new overlay in one QMP transaction. */
    disks: Type.Array(SnapshotDiskSchema, { minItems: 1, maxItems: 64 }),
    /** Also save the VM's memory and device state to this new file (the guest stays paused meanwhile). */
    memory: Type.Optional(Type.Object({ path: HostPathString }, strict)),
  },
  strict,
);
export type VmSnapshotParams = Static<typeof VmSnapshotParamsSchema>;

export const VmSnapshotResultSchema = Type.Object(
  {
    vm_id: UuidString,
    /** The new active volume of each disk. */
    disks: Type.Array(Type.Object({ disk_id: Type.String(), path: Type.String() }, strict)),
    /** How long the guest's vCPUs were stopped (0 when the VM was already paused). */
    paused_ms: Type.Number({ minimum: 0 }),
    /** Size of the saved memory state file, when `memory` was asked for. */
    memory_bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  strict,
);
export type VmSnapshotResult = Static<typeof VmSnapshotResultSchema>;

/**
 * `vm.merge`: commit the volume `top_path` into its backing volume `base_path` while the VM runs
 * (`block-commit`). `base_path` takes `top_path`'s place in the chain and `top_path` is deleted.
 * Progress goes out as `job.progress` events (`kind: "merge"`, `job_id` as given or generated).
 */
export const VmMergeParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    disk_id: DeviceIdString,
    top_path: HostPathString,
    base_path: HostPathString,
    job_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' })),
    /** Rate limit of the copy in bytes per second (0 or absent: unlimited). */
    speed_bytes_per_s: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  strict,
);
export type VmMergeParams = Static<typeof VmMergeParamsSchema>;

export const MergeResultSchema = Type.Object(
  {
    /** The volume now holding the merged data (`base_path`). */
    base_path: Type.String(),
    /** The volume that was deleted (`top_path`). */
    removed_path: Type.String(),
    /** The volume whose backing file now names the base, when the top had one (an inner merge). */
    rebased_path: Type.Union([Type.String(), Type.Null()]),
    /** True when the merge found the work already done (an interrupted merge retried). */
    already_done: Type.Boolean(),
  },
  strict,
);
export type MergeResult = Static<typeof MergeResultSchema>;

/**
 * `volume.merge`: the same with the VM down (`qemu-img commit`, then `qemu-img rebase -u` of the
 * top's child, then the top is deleted). Idempotent: retrying an interrupted merge finishes it.
 */
export const VolumeMergeParamsSchema = Type.Object(
  {
    top_path: HostPathString,
    base_path: HostPathString,
    format: Type.Optional(Type.Literal('qcow2')),
    job_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' })),
    /** Rate limit of the commit in bytes per second (0 or absent: unlimited). */
    speed_bytes_per_s: Type.Optional(Type.Integer({ minimum: 0 })),
    /**
     * Keys of an encrypted disk (base64): `secret` opens every volume of the disk's own directory,
     * `base_secret` the volumes of another disk below them (a thin clone's template base). qemu-img
     * gets them through 0600 files only.
     */
    encryption: Type.Optional(
      Type.Object(
        { secret: EncryptionSecretString, base_secret: Type.Optional(EncryptionSecretString) },
        strict,
      ),
    ),
  },
  strict,
);
export type VolumeMergeParams = Static<typeof VolumeMergeParamsSchema>;

/** `merge.status`: is a merge of this disk directory unfinished (its marker present)? */
export const MergeStatusParamsSchema = Type.Object({ volume_path: HostPathString }, strict);
export type MergeStatusParams = Static<typeof MergeStatusParamsSchema>;

export const MergeStatusResultSchema = Type.Object(
  {
    pending: Type.Union([
      Type.Object(
        {
          top_path: Type.String(),
          base_path: Type.String(),
          phase: Type.String(),
          vm_id: Type.Union([UuidString, Type.Null()]),
        },
        strict,
      ),
      Type.Null(),
    ]),
  },
  strict,
);
export type MergeStatusResult = Static<typeof MergeStatusResultSchema>;

/**
 * `vm.block_chains`: what a VM's disks really run on. Taken under the VM's lock (it waits for a
 * snapshot or merge in progress), so the answer is never a half-switched graph. The engine's
 * snapshot reconciler compares it with the database after a crash.
 */
export const VmBlockChainsParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    /** Also report whether this memory-state file exists (and its size). */
    memory_path: Type.Optional(HostPathString),
  },
  strict,
);
export type VmBlockChainsParams = Static<typeof VmBlockChainsParamsSchema>;

export const VmBlockChainsResultSchema = Type.Object(
  {
    vm_id: UuidString,
    /** True: the chains come from QEMU's block graph. False: the VM is not running; each chain is
     * the active volume its stored spec names (what its next start would open). */
    running: Type.Boolean(),
    disks: Type.Array(
      Type.Object(
        {
          disk_id: Type.String(),
          /** Active layer first. */
          chain: Type.Array(Type.Object({ path: Type.String(), format: Type.String() }, strict)),
        },
        strict,
      ),
    ),
    /** Size of `memory_path` when asked for and present, else null. */
    memory_bytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  },
  strict,
);
export type VmBlockChainsResult = Static<typeof VmBlockChainsResultSchema>;
