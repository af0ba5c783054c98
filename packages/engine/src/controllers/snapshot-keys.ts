import type { SnapshotDisk, VolumeEncryption, VolumeSourceEncryption } from '@vireo/agent-protocol';
import type { Db } from '../db/schema';
import type { MasterKey } from '../secrets/master-key';
import { sourceKeysOf, targetKeyOf } from '../secrets/volume-keys';

/**
 * The keys snapshot work hands the agent, as spreadable `encryption` fields (empty for a plain
 * disk or an engine without a master key). Keys leave here only for one RPC; nothing here logs them.
 */
export interface SnapshotKeys {
  /** For a new overlay in `diskId`'s directory: every volume there is encrypted with the disk's own key. */
  overlay(diskId: string): Promise<{ encryption?: VolumeEncryption }>;
  /** `vm.snapshot`'s disks: each new overlay's path with its disk's key, in the order given. */
  liveOverlays(overlays: { diskId: string; path: string }[]): Promise<SnapshotDisk[]>;
  /** For a cold merge: qemu-img opens the whole chain — the disk's key and a thin clone's template key below it. */
  chain(diskId: string): Promise<{ encryption?: VolumeSourceEncryption }>;
}

/** `deps.db` is read on each call: tests hand the database over after the handlers are registered. */
export function snapshotKeys(deps: { db: Db; masterKey?: MasterKey }): SnapshotKeys {
  async function overlay(diskId: string): Promise<{ encryption?: VolumeEncryption }> {
    const key = await targetKeyOf(deps.db, deps.masterKey, diskId);
    return key ? { encryption: key } : {};
  }
  return {
    overlay,
    async liveOverlays(overlays) {
      const disks: SnapshotDisk[] = [];
      for (const o of overlays) {
        disks.push({
          disk_id: o.diskId,
          new_volume_path: o.path,
          format: 'qcow2',
          ...(await overlay(o.diskId)),
        });
      }
      return disks;
    },
    async chain(diskId) {
      const keys = await sourceKeysOf(deps.db, deps.masterKey, diskId);
      return keys ? { encryption: keys } : {};
    },
  };
}
