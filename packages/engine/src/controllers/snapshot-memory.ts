import { join } from 'node:path';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { findSnapshot } from '../db/repositories/snapshots';
import { findStorageDomain } from '../db/repositories/storage-domains';
import type { Db, Executor } from '../db/schema';
import type { StorageDomainRow } from '../db/tables/storage';
import { diskDir } from '../domain/storage/paths';

/**
 * Memory snapshot restore (ADR 023 §3). A memory snapshot saves the guest's RAM and device state
 * in `<first disk's directory>/<snapshot id>.memory` (the first of its disks by id, as `vm.snapshot`
 * names it). After a preview or revert of such a snapshot, the VM's next start resumes that state
 * instead of booting — but only if every disk still starts exactly where the RAM was saved: its
 * active volume is an overlay directly on the volume the snapshot froze. Anything else (undo, a
 * merge, a new snapshot, a start that already used it) makes the restore void: RAM that does not
 * match the disks would corrupt the guest's file systems.
 */

/** Where the memory state of `snapshotId` lives, given its first disk (by id). */
export function memoryStatePath(domain: StorageDomainRow, diskId: string, snapshotId: string): string {
  return join(diskDir(domain, diskId), `${snapshotId}.memory`);
}

/** Marks the VM's next start as a resume from the snapshot's memory (replacing any earlier mark). */
export async function requestMemoryRestore(ex: Executor, vmId: string, snapshotId: string): Promise<void> {
  await sql`
    INSERT INTO vm_memory_restores (vm_id, snapshot_id) VALUES (${vmId}, ${snapshotId})
    ON CONFLICT (vm_id) DO UPDATE SET snapshot_id = excluded.snapshot_id, created_at = now()`.execute(ex);
}

export async function clearMemoryRestore(ex: Executor, vmId: string): Promise<void> {
  await sql`DELETE FROM vm_memory_restores WHERE vm_id = ${vmId}`.execute(ex);
}

/**
 * For a start that is about to happen: the memory state path to resume from, or undefined to boot.
 * The mark is consumed either way (one attempt: a restore that fails must not block every later
 * start), and checked against the disks as they are now.
 */
export async function takeMemoryRestore(db: Db, vmId: string, log: Logger): Promise<string | undefined> {
  const mark = await sql<{ snapshot_id: string }>`
    DELETE FROM vm_memory_restores WHERE vm_id = ${vmId} RETURNING snapshot_id`.execute(db);
  const snapshotId = mark.rows[0]?.snapshot_id;
  if (!snapshotId) return undefined;
  const snapshot = await findSnapshot(db, snapshotId);
  const first = snapshot?.volumes[0];
  if (!snapshot?.memory || !first || (snapshot.state !== 'ok' && snapshot.state !== 'in_preview')) {
    log.warn({ vm_id: vmId, snapshot_id: snapshotId }, 'memory restore dropped: the snapshot changed');
    return undefined;
  }
  for (const sv of snapshot.volumes) {
    const active = await db
      .selectFrom('volumes')
      .select(['id', 'parent_id'])
      .where('disk_id', '=', sv.disk_id)
      .where('active', '=', true)
      .executeTakeFirst();
    if (active?.parent_id !== sv.volume_id) {
      log.warn(
        { vm_id: vmId, snapshot_id: snapshotId, disk_id: sv.disk_id },
        'memory restore dropped: the disk no longer starts where the memory was saved',
      );
      return undefined;
    }
  }
  const disk = await db
    .selectFrom('disks')
    .select('storage_domain_id')
    .where('id', '=', first.disk_id)
    .executeTakeFirst();
  const domain = disk ? await findStorageDomain(db, disk.storage_domain_id) : undefined;
  return domain ? memoryStatePath(domain, first.disk_id, snapshot.id) : undefined;
}
