import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { VolumeRow } from '../tables/disks';
import type { SnapshotRow, SnapshotState, SnapshotVolumeRow } from '../tables/snapshots';
import type { StorageDomainRow } from '../tables/storage';

/** A snapshot with its per-disk volumes. */
export interface SnapshotView extends SnapshotRow {
  volumes: SnapshotVolumeRow[];
}

async function withVolumes(ex: Executor, rows: SnapshotRow[]): Promise<SnapshotView[]> {
  if (rows.length === 0) return [];
  const vols = await ex
    .selectFrom('snapshot_volumes')
    .selectAll()
    .where(
      'snapshot_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('disk_id')
    .execute();
  return rows.map((r) => ({ ...r, volumes: vols.filter((v) => v.snapshot_id === r.id) }));
}

/** A VM's snapshots, oldest first. */
export async function listSnapshots(ex: Executor, vmId: string): Promise<SnapshotView[]> {
  const rows = await ex
    .selectFrom('snapshots')
    .selectAll()
    .where('vm_id', '=', vmId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return withVolumes(ex, rows);
}

export async function findSnapshot(
  ex: Executor,
  id: string,
  lock = false,
): Promise<SnapshotView | undefined> {
  let q = ex.selectFrom('snapshots').selectAll().where('id', '=', id);
  if (lock) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? (await withVolumes(ex, [row]))[0] : undefined;
}

export async function insertSnapshot(
  ex: Executor,
  fields: { vm_id: string; description: string; memory: boolean; memory_domain_id: string | null },
  volumes: { disk_id: string; volume_id: string }[],
): Promise<SnapshotRow> {
  const row = await ex.insertInto('snapshots').values(fields).returningAll().executeTakeFirstOrThrow();
  if (volumes.length > 0) {
    await ex
      .insertInto('snapshot_volumes')
      .values(volumes.map((v) => ({ snapshot_id: row.id, ...v })))
      .execute();
  }
  return row;
}

export async function setSnapshotState(ex: Executor, id: string, state: SnapshotState): Promise<void> {
  await ex
    .updateTable('snapshots')
    .set({ state, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function setSnapshotPreview(
  ex: Executor,
  snapshotId: string,
  diskId: string,
  preview: string | null,
  previous: string | null,
): Promise<void> {
  await ex
    .updateTable('snapshot_volumes')
    .set({ preview_volume_id: preview, previous_volume_id: previous })
    .where('snapshot_id', '=', snapshotId)
    .where('disk_id', '=', diskId)
    .execute();
}

export async function deleteSnapshotRow(ex: Executor, id: string): Promise<void> {
  await ex.deleteFrom('snapshots').where('id', '=', id).execute();
}

/** The snapshot of this VM that is in preview, if any. */
export async function previewOf(ex: Executor, vmId: string): Promise<SnapshotView | undefined> {
  const row = await ex
    .selectFrom('snapshots')
    .selectAll()
    .where('vm_id', '=', vmId)
    .where('state', '=', 'in_preview')
    .executeTakeFirst();
  return row ? (await withVolumes(ex, [row]))[0] : undefined;
}

/** A VM's active attached disks with their active volume and storage domain, in guest order. */
export interface SnapshotDiskTarget {
  disk_id: string;
  disk_name: string;
  disk_state: string;
  shareable: boolean;
  volume: VolumeRow;
  domain: StorageDomainRow;
}

export async function snapshotTargets(ex: Executor, vmId: string): Promise<SnapshotDiskTarget[]> {
  const rows = await ex
    .selectFrom('vm_disk_attachments as a')
    .innerJoin('disks as d', 'd.id', 'a.disk_id')
    .select([
      'd.id as disk_id',
      'd.name as disk_name',
      'd.state as disk_state',
      'd.shareable',
      'd.storage_domain_id',
    ])
    .where('a.vm_id', '=', vmId)
    .where('a.active', '=', true)
    .orderBy('a.position')
    .execute();
  const out: SnapshotDiskTarget[] = [];
  for (const r of rows) {
    const volume = await ex
      .selectFrom('volumes')
      .selectAll()
      .where('disk_id', '=', r.disk_id)
      .where('active', '=', true)
      .executeTakeFirst();
    const domain = await ex
      .selectFrom('storage_domains')
      .selectAll()
      .where('id', '=', r.storage_domain_id)
      .executeTakeFirst();
    if (!volume || !domain) continue;
    out.push({
      disk_id: r.disk_id,
      disk_name: r.disk_name,
      disk_state: r.disk_state,
      shareable: r.shareable,
      volume,
      domain,
    });
  }
  return out;
}

export function findVolume(ex: Executor, id: string): Promise<VolumeRow | undefined> {
  return ex.selectFrom('volumes').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertVolume(
  ex: Executor,
  v: { id: string; disk_id: string; parent_id: string; format: 'qcow2' | 'raw'; size_bytes: number },
): Promise<void> {
  await ex
    .insertInto('volumes')
    .values({ ...v, active: false, on_storage: false })
    .execute();
}

export async function setVolumeState(ex: Executor, ids: string[], state: VolumeRow['state']): Promise<void> {
  if (ids.length === 0) return;
  await ex.updateTable('volumes').set({ state, updated_at: sql`now()` }).where('id', 'in', ids).execute();
}

/** Makes `volumeId` the disk's one active leaf (the unique index allows one at a time). */
export async function activateVolume(ex: Executor, diskId: string, volumeId: string): Promise<void> {
  await ex
    .updateTable('volumes')
    .set({ active: false, updated_at: sql`now()` })
    .where('disk_id', '=', diskId)
    .where('active', '=', true)
    .execute();
  await ex
    .updateTable('volumes')
    .set({ active: true, on_storage: true, state: 'ok', updated_at: sql`now()` })
    .where('id', '=', volumeId)
    .execute();
}

/**
 * After `top` was merged into `base`: base takes top's place (its children, the snapshots that
 * named it, the active flag), and top's row goes.
 */
export async function replaceMergedVolume(ex: Executor, top: VolumeRow, baseId: string): Promise<void> {
  await ex.updateTable('volumes').set({ parent_id: baseId }).where('parent_id', '=', top.id).execute();
  await ex
    .updateTable('snapshot_volumes')
    .set({ volume_id: baseId })
    .where('volume_id', '=', top.id)
    .execute();
  await ex.deleteFrom('volumes').where('id', '=', top.id).execute();
  await ex
    .updateTable('volumes')
    .set({ state: 'ok', ...(top.active ? { active: true } : {}), updated_at: sql`now()` })
    .where('id', '=', baseId)
    .execute();
}

export async function deleteVolumeRow(ex: Executor, id: string): Promise<void> {
  await ex.deleteFrom('volumes').where('id', '=', id).execute();
}

// ---- disks, domains and hosts as snapshots need them (read-only views of the disks area) ----

export function findDiskRow(ex: Executor, id: string) {
  return ex.selectFrom('disks').selectAll().where('id', '=', id).executeTakeFirst();
}

export function activeVolumeOf(ex: Executor, diskId: string): Promise<VolumeRow | undefined> {
  return ex
    .selectFrom('volumes')
    .selectAll()
    .where('disk_id', '=', diskId)
    .where('active', '=', true)
    .executeTakeFirst();
}
