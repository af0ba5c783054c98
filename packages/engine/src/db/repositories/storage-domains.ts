import { type Insertable, sql } from 'kysely';
import type { Executor } from '../schema';
import type { StorageDomainRow, StorageDomainState, StorageDomainsTable } from '../tables/storage';
import { applyPage, type PageRequest, type PageResult, type SortColumnType, toPage } from './list';

/** Columns a storage domain list may be sorted by, and their SQL types. */
export const STORAGE_DOMAIN_SORT_COLUMNS: Record<string, SortColumnType> = {
  name: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
};

export const STORAGE_DOMAIN_NAME_CONSTRAINT = 'storage_domains_name_key';

export interface StorageDomainFilter {
  datacenterId?: string | undefined;
  kind?: string | undefined;
  state?: string | undefined;
}

export async function listStorageDomains(
  ex: Executor,
  page: PageRequest,
  filter: StorageDomainFilter = {},
): Promise<PageResult<StorageDomainRow & { sort_key: string }>> {
  let qb = ex.selectFrom('storage_domains').selectAll('storage_domains');
  if (filter.datacenterId) qb = qb.where('storage_domains.datacenter_id', '=', filter.datacenterId);
  if (filter.kind) qb = qb.where('storage_domains.kind', '=', filter.kind as 'data');
  if (filter.state) qb = qb.where('storage_domains.state', '=', filter.state as StorageDomainState);
  const rows = await applyPage(qb, 'storage_domains', page, STORAGE_DOMAIN_SORT_COLUMNS).execute();
  return toPage(rows, page.limit);
}

export function findStorageDomain(ex: Executor, id: string): Promise<StorageDomainRow | undefined> {
  return ex.selectFrom('storage_domains').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks the row for the rest of the transaction (state transitions check under this lock). */
export function lockStorageDomain(ex: Executor, id: string): Promise<StorageDomainRow | undefined> {
  return ex.selectFrom('storage_domains').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function insertStorageDomain(
  ex: Executor,
  fields: Insertable<StorageDomainsTable>,
): Promise<StorageDomainRow> {
  return ex.insertInto('storage_domains').values(fields).returningAll().executeTakeFirstOrThrow();
}

/** Applies `patch` when the row is still at `expectedVersion`, bumping the version. */
export function updateStorageDomain(
  ex: Executor,
  id: string,
  expectedVersion: number,
  patch: { name?: string; description?: string },
): Promise<StorageDomainRow | undefined> {
  return ex
    .updateTable('storage_domains')
    .set({ ...patch, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
}

/** A state transition (and the data center link that goes with it); bumps the version. */
export function setStorageDomainState(
  ex: Executor,
  id: string,
  state: StorageDomainState,
  reason: string,
  datacenterId?: string | null,
): Promise<StorageDomainRow | undefined> {
  return ex
    .updateTable('storage_domains')
    .set({
      state,
      state_reason: reason,
      ...(datacenterId !== undefined ? { datacenter_id: datacenterId } : {}),
      version: sql`version + 1`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Capacity as an agent measured it; no version bump (observed data, not a change of the object). */
export async function setStorageDomainCapacity(
  ex: Executor,
  id: string,
  cap: { total_bytes: number; free_bytes: number },
): Promise<void> {
  await ex
    .updateTable('storage_domains')
    .set({ total_bytes: cap.total_bytes, free_bytes: cap.free_bytes, capacity_checked_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function deleteStorageDomain(ex: Executor, id: string): Promise<boolean> {
  const res = await ex.deleteFrom('storage_domains').where('id', '=', id).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/**
 * What else keeps a domain from being removed: uploads or downloads still running against it and
 * snapshots whose memory state it holds (at most `limit` of each).
 */
export async function storageDomainOtherUsers(
  ex: Executor,
  id: string,
  limit: number,
): Promise<{ kind: 'image_transfer' | 'snapshot'; id: string; name: string }[]> {
  const transfers = await ex
    .selectFrom('image_transfers')
    .select(['id', 'direction'])
    .where('storage_domain_id', '=', id)
    .where('state', 'in', ['initializing', 'transferring', 'finalizing'])
    .limit(limit)
    .execute();
  const snapshots = await ex
    .selectFrom('snapshots')
    .innerJoin('vms', 'vms.id', 'snapshots.vm_id')
    .select(['snapshots.id', 'snapshots.description', 'vms.name as vm_name'])
    .where('snapshots.memory_domain_id', '=', id)
    .limit(limit)
    .execute();
  return [
    ...transfers.map((t) => ({ kind: 'image_transfer' as const, id: t.id, name: t.direction })),
    ...snapshots.map((s) => ({
      kind: 'snapshot' as const,
      id: s.id,
      name: `${s.vm_name}: ${s.description}`,
    })),
  ];
}

/**
 * Drops the records of uploads and downloads that ended (finished, failed, cancelled) on a domain
 * being removed: they are history only, and the audit log keeps that history.
 */
export async function forgetEndedTransfers(ex: Executor, id: string): Promise<void> {
  await ex
    .deleteFrom('image_transfers')
    .where('storage_domain_id', '=', id)
    .where('state', 'in', ['finished', 'failed', 'cancelled'])
    .execute();
}

/** Disks stored in the domain (at most `limit`) and their total: they keep it from being removed. */
export async function storageDomainDisks(
  ex: Executor,
  id: string,
  limit: number,
): Promise<{ total: number; items: { kind: 'disk'; id: string; name: string }[] }> {
  const rows = await ex
    .selectFrom('disks')
    .select(['id', 'name', sql<number>`count(*) OVER ()`.as('total')])
    .where('storage_domain_id', '=', id)
    .orderBy('name')
    .limit(limit)
    .execute();
  return {
    total: Number(rows[0]?.total ?? 0),
    items: rows.map((r) => ({ kind: 'disk' as const, id: r.id, name: r.name })),
  };
}

/** VMs that are not down and use the domain (its ISO as CD-ROM, or a disk in it). */
export async function runningVmsUsing(
  ex: Executor,
  id: string,
  limit: number,
): Promise<{ id: string; name: string }[]> {
  return ex
    .selectFrom('vms')
    .select(['vms.id', 'vms.name'])
    .where('vms.state', '!=', 'down')
    .where((eb) =>
      eb.or([
        eb('vms.cdrom_storage_domain_id', '=', id),
        eb.exists(
          eb
            .selectFrom('vm_disk_attachments as a')
            .innerJoin('disks as d', 'd.id', 'a.disk_id')
            .select(sql`1`.as('one'))
            .whereRef('a.vm_id', '=', 'vms.id')
            .where('d.storage_domain_id', '=', id),
        ),
      ]),
    )
    .orderBy('vms.name')
    .limit(limit)
    .execute();
}

/** Hosts that are `up` in the data center (through their clusters), by name. */
export function upHostsInDatacenter(
  ex: Executor,
  datacenterId: string,
): Promise<{ id: string; name: string }[]> {
  return ex
    .selectFrom('hosts')
    .innerJoin('clusters', 'clusters.id', 'hosts.cluster_id')
    .select(['hosts.id', 'hosts.name'])
    .where('clusters.datacenter_id', '=', datacenterId)
    .where('hosts.state', '=', 'up')
    .orderBy('hosts.name')
    .execute();
}

/** The data center a host belongs to (through its cluster). */
export async function datacenterOfHost(ex: Executor, hostId: string): Promise<string | undefined> {
  const row = await ex
    .selectFrom('hosts')
    .innerJoin('clusters', 'clusters.id', 'hosts.cluster_id')
    .select('clusters.datacenter_id')
    .where('hosts.id', '=', hostId)
    .executeTakeFirst();
  return row?.datacenter_id;
}

/** This engine's id (written into the domains it owns). */
export async function engineId(ex: Executor): Promise<string> {
  const row = await ex.selectFrom('engine_identity').select('id').executeTakeFirstOrThrow();
  return row.id;
}

/** The local domains that live on a host: they keep it from being removed. */
export function localDomainsOfHost(ex: Executor, hostId: string): Promise<{ id: string; name: string }[]> {
  return ex
    .selectFrom('storage_domains')
    .select(['id', 'name'])
    .where('host_id', '=', hostId)
    .orderBy('name')
    .execute();
}

/** Storage domains attached to a data center (at most `limit`): they keep it from being deleted. */
export function domainsOfDatacenter(
  ex: Executor,
  datacenterId: string,
  limit: number,
): Promise<{ id: string; name: string }[]> {
  return ex
    .selectFrom('storage_domains')
    .select(['id', 'name'])
    .where('datacenter_id', '=', datacenterId)
    .orderBy('name')
    .limit(limit)
    .execute();
}
