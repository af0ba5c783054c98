import { type Insertable, sql, type Updateable } from 'kysely';
import type { Executor } from '../db/schema';
import type { ImageTransferRow, ImageTransfersTable } from '../db/tables/transfers';

/** What a transfer needs to know about its storage domain (a narrower `StorageDomainRow`). */
export interface TransferDomain {
  id: string;
  name: string;
  kind: 'data' | 'iso' | 'export';
  backend: string;
  state: string;
  host_id: string | null;
  datacenter_id: string | null;
  free_bytes: number | null;
}

/** A disk as a transfer sees it: its active volume and whether a VM could be using it. */
export interface TransferDisk {
  id: string;
  name: string;
  storage_domain_id: string;
  format: 'qcow2' | 'raw';
  state: string;
  size_bytes: number;
  volume_count: number;
  active_volume_id: string | null;
  /** Attached to a VM that is not down (or whose state is unknown). */
  in_use_by: string | null;
}

export async function findTransferDisk(ex: Executor, id: string): Promise<TransferDisk | undefined> {
  const { rows } = await sql<TransferDisk>`
    SELECT d.id, d.name, d.storage_domain_id, d.format, d.state, d.size_bytes,
           (SELECT count(*)::int FROM volumes v WHERE v.disk_id = d.id) AS volume_count,
           (SELECT v.id FROM volumes v WHERE v.disk_id = d.id AND v.active) AS active_volume_id,
           (SELECT vm.name FROM vm_disk_attachments a JOIN vms vm ON vm.id = a.vm_id
             WHERE a.disk_id = d.id AND (vm.state <> 'down' OR vm.desired_state <> 'down') LIMIT 1) AS in_use_by
      FROM disks d WHERE d.id = ${id}`.execute(ex);
  return rows[0];
}

/** A new disk (locked, one volume not yet on storage) that an upload will fill. */
export async function insertUploadDisk(
  ex: Executor,
  d: { name: string; domainId: string; format: 'qcow2' | 'raw'; sizeBytes: number },
): Promise<{ diskId: string; volumeId: string }> {
  const disk = await ex
    .insertInto('disks')
    .values({
      name: d.name,
      storage_domain_id: d.domainId,
      size_bytes: d.sizeBytes,
      format: d.format,
      state: 'locked',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const volume = await ex
    .insertInto('volumes')
    .values({
      disk_id: disk.id,
      format: d.format,
      active: true,
      state: 'locked',
      size_bytes: d.sizeBytes,
      on_storage: false,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { diskId: disk.id, volumeId: volume.id };
}

/** Marks a disk (and its volume) usable after a successful upload, with the image's real size. */
export async function completeUploadDisk(
  ex: Executor,
  diskId: string,
  volumeId: string,
  virtualSize: number,
): Promise<void> {
  const now = new Date();
  await ex
    .updateTable('volumes')
    .set({ state: 'ok', on_storage: true, size_bytes: virtualSize, updated_at: now })
    .where('id', '=', volumeId)
    .execute();
  await ex
    .updateTable('disks')
    .set({ state: 'ok', size_bytes: virtualSize, updated_at: now, version: sql`version + 1` })
    .where('id', '=', diskId)
    .execute();
}

export async function insertTransfer(
  ex: Executor,
  values: Omit<Insertable<ImageTransfersTable>, 'id'>,
): Promise<ImageTransferRow> {
  return ex.insertInto('image_transfers').values(values).returningAll().executeTakeFirstOrThrow();
}

export async function getTransfer(ex: Executor, id: string): Promise<ImageTransferRow | undefined> {
  return ex.selectFrom('image_transfers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Updates a transfer; `from` restricts the states it may be in (optimistic state machine). */
export async function updateTransfer(
  ex: Executor,
  id: string,
  patch: Updateable<ImageTransfersTable>,
  from?: readonly string[],
): Promise<ImageTransferRow | undefined> {
  let q = ex
    .updateTable('image_transfers')
    .set({ ...patch, updated_at: new Date(), version: sql`version + 1` })
    .where('id', '=', id);
  if (from) q = q.where('state', 'in', from as ImageTransferRow['state'][]);
  return q.returningAll().executeTakeFirst();
}

export async function listTransfers(ex: Executor, limit: number): Promise<ImageTransferRow[]> {
  return ex.selectFrom('image_transfers').selectAll().orderBy('created_at', 'desc').limit(limit).execute();
}
