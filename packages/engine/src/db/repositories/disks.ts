import { sql } from 'kysely';
import type { Executor } from '../schema';
import type {
  DiskFormat,
  DiskInterface,
  DiskPreallocation,
  DiskRow,
  DiskState,
  VmDiskAttachmentRow,
  VolumeRow,
} from '../tables/disks';
import type { StorageDomainRow } from '../tables/storage';
import { applyPage, type PageRequest, type PageResult, type SortColumnType, toPage } from './list';

export const DISK_SORT_COLUMNS: Record<string, SortColumnType> = {
  name: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
};

const GiB = 1024 ** 3;

/** A disk with what its wire shape adds: the length of its chain and the VMs it is attached to. */
export interface DiskView extends DiskRow {
  volume_count: number;
  vm_ids: string[];
}

/** One disk as a VM has it: the attachment, the disk and its active volume. */
export interface VmDiskView {
  id: string;
  vm_id: string;
  name: string;
  position: number;
  interface: DiskInterface;
  bootable: boolean;
  active: boolean;
  storage_domain_id: string;
  size_bytes: number;
  size_gib: number;
  format: DiskFormat;
  preallocation: DiskPreallocation;
  shareable: boolean;
  state: DiskState;
  volume_id: string;
  volume_format: DiskFormat;
  on_storage: boolean;
}

export interface DiskFilter {
  storageDomainId?: string;
  vmId?: string;
}

async function withExtras(
  ex: Executor,
  rows: DiskRow[],
): Promise<Map<string, { volumes: number; vms: string[] }>> {
  const out = new Map(rows.map((r) => [r.id, { volumes: 0, vms: [] as string[] }]));
  if (rows.length === 0) return out;
  const ids = rows.map((r) => r.id);
  const vols = await ex
    .selectFrom('volumes')
    .select(['disk_id', sql<number>`count(*)::int`.as('n')])
    .where('disk_id', 'in', ids)
    .groupBy('disk_id')
    .execute();
  for (const v of vols) {
    const e = out.get(v.disk_id);
    if (e) e.volumes = v.n;
  }
  const atts = await ex
    .selectFrom('vm_disk_attachments')
    .select(['disk_id', 'vm_id'])
    .where('disk_id', 'in', ids)
    .orderBy('vm_id')
    .execute();
  for (const a of atts) out.get(a.disk_id)?.vms.push(a.vm_id);
  return out;
}

/** Adds the chain length and attachments to disk rows. */
export async function diskViews<R extends DiskRow>(ex: Executor, rows: R[]): Promise<(R & DiskView)[]> {
  const extras = await withExtras(ex, rows);
  return rows.map((r) => {
    const e = extras.get(r.id);
    return { ...r, volume_count: e?.volumes ?? 0, vm_ids: e?.vms ?? [] };
  });
}

export async function listDisks(
  ex: Executor,
  page: PageRequest,
  filter: DiskFilter = {},
): Promise<PageResult<DiskView & { sort_key: string }>> {
  let q = ex.selectFrom('disks').selectAll('disks');
  if (filter.storageDomainId) q = q.where('disks.storage_domain_id', '=', filter.storageDomainId);
  if (filter.vmId) {
    const vmId = filter.vmId;
    q = q.where((eb) =>
      eb.exists(
        eb
          .selectFrom('vm_disk_attachments as a')
          .select('a.disk_id')
          .whereRef('a.disk_id', '=', 'disks.id')
          .where('a.vm_id', '=', vmId),
      ),
    );
  }
  const rows = await applyPage(q, 'disks', page, DISK_SORT_COLUMNS).execute();
  const paged = toPage(rows as (DiskRow & { sort_key: string })[], page.limit);
  return { ...paged, rows: await diskViews(ex, paged.rows) };
}

export function findDisk(ex: Executor, id: string): Promise<DiskRow | undefined> {
  return ex.selectFrom('disks').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The disk row locked for the rest of the transaction (one change at a time per disk). */
export function lockDisk(ex: Executor, id: string): Promise<DiskRow | undefined> {
  return ex.selectFrom('disks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export interface DiskFields {
  name: string;
  description?: string;
  storage_domain_id: string;
  size_bytes: number;
  format: DiskFormat;
  preallocation?: DiskPreallocation;
  shareable?: boolean;
  state?: DiskState;
}

/** Inserts a disk and its first (active) volume; `onStorage: false` until an agent creates it. */
export async function insertDiskWithVolume(
  ex: Executor,
  fields: DiskFields,
  onStorage: boolean,
): Promise<{ disk: DiskRow; volume: VolumeRow }> {
  const disk = await ex.insertInto('disks').values(fields).returningAll().executeTakeFirstOrThrow();
  const volume = await ex
    .insertInto('volumes')
    .values({ disk_id: disk.id, format: disk.format, size_bytes: disk.size_bytes, on_storage: onStorage })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { disk, volume };
}

export function activeVolume(ex: Executor, diskId: string): Promise<VolumeRow | undefined> {
  return ex
    .selectFrom('volumes')
    .selectAll()
    .where('disk_id', '=', diskId)
    .where('active', '=', true)
    .executeTakeFirst();
}

export function listVolumes(ex: Executor, diskId: string): Promise<VolumeRow[]> {
  return ex.selectFrom('volumes').selectAll().where('disk_id', '=', diskId).orderBy('created_at').execute();
}

export async function setVolumeOnStorage(ex: Executor, volumeId: string): Promise<void> {
  await ex
    .updateTable('volumes')
    .set({ on_storage: true, updated_at: sql`now()` })
    .where('id', '=', volumeId)
    .execute();
}

/** Optimistic on `version` when given; undefined when the row changed or vanished. */
export function updateDisk(
  ex: Executor,
  id: string,
  expectedVersion: number | undefined,
  patch: Partial<Pick<DiskRow, 'name' | 'description' | 'size_bytes' | 'state' | 'storage_domain_id'>>,
): Promise<DiskRow | undefined> {
  let q = ex
    .updateTable('disks')
    .set({ ...patch, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id);
  if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
  return q.returningAll().executeTakeFirst();
}

/** New size of the disk and of its active volume (the guest-visible layer). */
export async function setDiskSize(ex: Executor, diskId: string, sizeBytes: number): Promise<void> {
  await updateDisk(ex, diskId, undefined, { size_bytes: sizeBytes });
  await ex
    .updateTable('volumes')
    .set({ size_bytes: sizeBytes, updated_at: sql`now()` })
    .where('disk_id', '=', diskId)
    .where('active', '=', true)
    .execute();
}

/** After a move: the disk's one volume is replaced by the copy in the new domain. */
export async function replaceVolume(
  ex: Executor,
  diskId: string,
  oldVolumeId: string,
  newVolumeId: string,
  domainId: string,
): Promise<void> {
  const old = await ex
    .selectFrom('volumes')
    .selectAll()
    .where('id', '=', oldVolumeId)
    .executeTakeFirstOrThrow();
  await ex.deleteFrom('volumes').where('id', '=', oldVolumeId).execute();
  await ex
    .insertInto('volumes')
    .values({
      id: newVolumeId,
      disk_id: diskId,
      format: old.format,
      size_bytes: old.size_bytes,
      on_storage: true,
    })
    .execute();
  await updateDisk(ex, diskId, undefined, { storage_domain_id: domainId, state: 'ok' });
}

export async function deleteDisk(ex: Executor, id: string): Promise<boolean> {
  const res = await ex.deleteFrom('disks').where('id', '=', id).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

// ---- attachments ----

/** Disks of the given VMs in guest order, grouped by VM id, each with its active volume. */
export async function listVmDisks(ex: Executor, vmIds: string[]): Promise<Map<string, VmDiskView[]>> {
  const out = new Map<string, VmDiskView[]>(vmIds.map((id) => [id, []]));
  if (vmIds.length === 0) return out;
  const rows = await ex
    .selectFrom('vm_disk_attachments as a')
    .innerJoin('disks as d', 'd.id', 'a.disk_id')
    .innerJoin('volumes as v', (j) => j.onRef('v.disk_id', '=', 'd.id').on('v.active', '=', true))
    .select([
      'd.id',
      'a.vm_id',
      'd.name',
      'a.position',
      'a.interface',
      'a.bootable',
      'a.active',
      'd.storage_domain_id',
      'd.size_bytes',
      'd.format',
      'd.preallocation',
      'd.shareable',
      'd.state',
      'v.id as volume_id',
      'v.format as volume_format',
      'v.on_storage',
    ])
    .where('a.vm_id', 'in', vmIds)
    .orderBy('a.vm_id')
    .orderBy('a.position')
    .execute();
  for (const r of rows) out.get(r.vm_id)?.push({ ...r, size_gib: Math.ceil(r.size_bytes / GiB) });
  return out;
}

export function findAttachment(
  ex: Executor,
  vmId: string,
  diskId: string,
): Promise<VmDiskAttachmentRow | undefined> {
  return ex
    .selectFrom('vm_disk_attachments')
    .selectAll()
    .where('vm_id', '=', vmId)
    .where('disk_id', '=', diskId)
    .executeTakeFirst();
}

/** The VMs a disk is attached to, with their state and host. */
export function attachmentsOfDisk(
  ex: Executor,
  diskId: string,
): Promise<
  { vm_id: string; vm_name: string; state: string; desired_state: string; host_id: string | null }[]
> {
  return ex
    .selectFrom('vm_disk_attachments as a')
    .innerJoin('vms as m', 'm.id', 'a.vm_id')
    .select(['a.vm_id', 'm.name as vm_name', 'm.state', 'm.desired_state', 'm.host_id'])
    .where('a.disk_id', '=', diskId)
    .execute();
}

export async function insertAttachment(
  ex: Executor,
  row: {
    vm_id: string;
    disk_id: string;
    interface: DiskInterface;
    bootable: boolean;
    active: boolean;
    position?: number;
  },
): Promise<VmDiskAttachmentRow> {
  let position = row.position;
  if (position === undefined) {
    const used = await ex
      .selectFrom('vm_disk_attachments')
      .select('position')
      .where('vm_id', '=', row.vm_id)
      .execute();
    const taken = new Set(used.map((u) => u.position));
    position = 0;
    while (taken.has(position)) position++;
  }
  return ex
    .insertInto('vm_disk_attachments')
    .values({ ...row, position })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteAttachment(ex: Executor, vmId: string, diskId: string): Promise<boolean> {
  const res = await ex
    .deleteFrom('vm_disk_attachments')
    .where('vm_id', '=', vmId)
    .where('disk_id', '=', diskId)
    .executeTakeFirst();
  return res.numDeletedRows > 0n;
}

// ---- storage domains, as disks need them ----

export async function domainsByIds(ex: Executor, ids: string[]): Promise<Map<string, StorageDomainRow>> {
  if (ids.length === 0) return new Map();
  const rows = await ex
    .selectFrom('storage_domains')
    .selectAll()
    .where('id', 'in', [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r]));
}

/** The data center's first active data domain (by name): where a VM's new disks go by default. */
export function firstActiveDataDomain(
  ex: Executor,
  datacenterId: string,
): Promise<StorageDomainRow | undefined> {
  return ex
    .selectFrom('storage_domains')
    .selectAll()
    .where('datacenter_id', '=', datacenterId)
    .where('kind', '=', 'data')
    .where('state', '=', 'active')
    .orderBy('name')
    .orderBy('id')
    .executeTakeFirst();
}

/**
 * Hosts that can reach a domain: its one host for `local`; for shared backends every `up` host of
 * the clusters of its data center (the domain controller activates it on each of them).
 */
export async function hostsSeeingDomain(
  ex: Executor,
  domain: Pick<StorageDomainRow, 'host_id' | 'datacenter_id'> & { backend: string },
): Promise<string[]> {
  if (domain.backend === 'local') return domain.host_id ? [domain.host_id] : [];
  if (!domain.datacenter_id) return [];
  const rows = await ex
    .selectFrom('hosts as h')
    .innerJoin('clusters as c', 'c.id', 'h.cluster_id')
    .select('h.id')
    .where('c.datacenter_id', '=', domain.datacenter_id)
    .where('h.state', '=', 'up')
    .orderBy('h.name')
    .execute();
  return rows.map((r) => r.id);
}

/** The data center of a cluster. */
export async function datacenterOfCluster(ex: Executor, clusterId: string): Promise<string | undefined> {
  const row = await ex
    .selectFrom('clusters')
    .select('datacenter_id')
    .where('id', '=', clusterId)
    .executeTakeFirst();
  return row?.datacenter_id;
}
