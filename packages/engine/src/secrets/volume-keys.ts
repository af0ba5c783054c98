import type { VolumeEncryption, VolumeSourceEncryption } from '@vireo/agent-protocol';
import { sql } from 'kysely';
import type { Executor } from '../db/schema';
import { createDiskKey, diskKeyOf } from './disk-key-store';
import type { MasterKey } from './master-key';

// What volume work (copy, move, clone, template, export, import) hands the agent to open an
// encrypted source and to write an encrypted target. Keys leave here only as base64 strings for
// one RPC; nothing here logs them.

/**
 * The disk an overlay chain of `diskId` ends in, when that is another disk (a thin clone's template
 * base): the first volume of `diskId` whose parent belongs to another disk names it.
 */
export async function baseDiskOf(ex: Executor, diskId: string): Promise<string | undefined> {
  const { rows } = await sql<{ disk_id: string }>`
    SELECT p.disk_id FROM volumes v JOIN volumes p ON p.id = v.parent_id
    WHERE v.disk_id = ${diskId} AND p.disk_id <> ${diskId} LIMIT 1`.execute(ex);
  return rows[0]?.disk_id;
}

/**
 * Keys that open `diskId`'s active chain: its own key for the layers in its directory and the
 * template base's key for the layers below them. Undefined when no layer is encrypted (or the
 * engine has no master key, so nothing can be).
 */
export async function sourceKeysOf(
  ex: Executor,
  master: MasterKey | undefined,
  diskId: string,
): Promise<VolumeSourceEncryption | undefined> {
  if (!master) return undefined;
  const own = await diskKeyOf(ex, master, diskId);
  const baseDisk = await baseDiskOf(ex, diskId);
  const base = baseDisk ? await diskKeyOf(ex, master, baseDisk) : undefined;
  if (!own && !base) return undefined;
  // A plain overlay on an encrypted base: the agent keys only encrypted layers, so the own-layer
  // key is never used and the base's stands in for it (the wire format wants one).
  return { secret: (own ?? base) as string, ...(base ? { base_secret: base } : {}) };
}

/** The key a target disk's volume is written with, or undefined for a plain disk. */
export async function targetKeyOf(
  ex: Executor,
  master: MasterKey | undefined,
  diskId: string,
): Promise<VolumeEncryption | undefined> {
  if (!master) return undefined;
  const key = await diskKeyOf(ex, master, diskId);
  return key ? { secret: key } : undefined;
}

/**
 * Gives `diskId` its own new key unless it has one (an operation resumed after the key was stored
 * keeps it): copies, template disks and clones of encrypted disks never share their source's key.
 */
export async function ensureDiskKey(ex: Executor, master: MasterKey, diskId: string): Promise<string> {
  return (await diskKeyOf(ex, master, diskId)) ?? (await createDiskKey(ex, master, diskId));
}

/** `volume.copy`'s key fields: open `sourceDiskId`'s chain; write the target under `targetDiskId`'s key. */
export async function copyKeys(
  ex: Executor,
  master: MasterKey | undefined,
  sourceDiskId: string,
  targetDiskId?: string,
): Promise<{ source_encryption?: VolumeSourceEncryption; target_encryption?: VolumeEncryption }> {
  const source = await sourceKeysOf(ex, master, sourceDiskId);
  const target = targetDiskId ? await targetKeyOf(ex, master, targetDiskId) : undefined;
  return {
    ...(source ? { source_encryption: source } : {}),
    ...(target ? { target_encryption: target } : {}),
  };
}
