import { sql } from 'kysely';
import { type BatchedRead, batchedRead } from '../batched-read';
import type { Db, Executor } from '../schema';
import type { DatacenterRow } from '../tables/inventory';
import { applyPage, type PageRequest, type PageResult, type SortColumnType, toPage } from './list';

/** Columns a data center list may be sorted by, and their SQL types. */
export const DATACENTER_SORT_COLUMNS: Record<string, SortColumnType> = {
  name: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
};

export const DATACENTER_NAME_CONSTRAINT = 'datacenters_name_key';
export const CLUSTER_DATACENTER_FK = 'clusters_datacenter_id_fkey';

export interface DatacenterFields {
  name: string;
  description: string;
  storage_format: string;
  compatibility_version: string;
}

export async function listDatacenters(
  ex: Executor,
  page: PageRequest,
): Promise<PageResult<DatacenterRow & { sort_key: string }>> {
  const rows = await applyPage(
    ex.selectFrom('datacenters').selectAll('datacenters'),
    'datacenters',
    page,
    DATACENTER_SORT_COLUMNS,
  ).execute();
  return toPage(rows, page.limit);
}

function selectDatacenter(ex: Executor, id: string): Promise<DatacenterRow | undefined> {
  return ex.selectFrom('datacenters').selectAll().where('id', '=', id).executeTakeFirst();
}

// One batcher per pool-backed database handle (tests open several).
const batchers = new WeakMap<Db, BatchedRead<DatacenterRow>>();

/**
 * The data center `id`, or undefined. Outside a transaction, concurrent reads share one query
 * (db/batched-read.ts: the hot `GET /datacenters/{id}` path); inside one, it is a plain read so
 * it sees the transaction's own writes.
 */
export async function findDatacenter(ex: Executor, id: string): Promise<DatacenterRow | undefined> {
  if (ex.isTransaction) return selectDatacenter(ex, id);
  const db = ex as Db;
  let read = batchers.get(db);
  if (!read) {
    read = batchedRead(
      (ids) =>
        db.selectFrom('datacenters').selectAll().where(sql<boolean>`id = any(${ids}::uuid[])`).execute(),
      (one) => selectDatacenter(db, one),
    );
    batchers.set(db, read);
  }
  return read(id);
}

/** Locks the row for the rest of the transaction (delete checks its children under this lock). */
export async function lockDatacenter(ex: Executor, id: string): Promise<DatacenterRow | undefined> {
  return ex.selectFrom('datacenters').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function insertDatacenter(ex: Executor, fields: DatacenterFields): Promise<DatacenterRow> {
  return ex.insertInto('datacenters').values(fields).returningAll().executeTakeFirstOrThrow();
}

/**
 * Applies `patch` when the row is still at `expectedVersion`, bumping the version. Undefined when
 * no row matched (gone, or changed since the caller read it).
 */
export async function updateDatacenter(
  ex: Executor,
  id: string,
  expectedVersion: number,
  patch: Partial<DatacenterFields>,
): Promise<DatacenterRow | undefined> {
  return ex
    .updateTable('datacenters')
    .set({ ...patch, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteDatacenter(ex: Executor, id: string): Promise<boolean> {
  const res = await ex.deleteFrom('datacenters').where('id', '=', id).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/** The clusters that keep a data center from being deleted (at most `limit`), and their total. */
export async function datacenterChildren(
  ex: Executor,
  id: string,
  limit: number,
): Promise<{ total: number; items: { kind: 'cluster'; id: string; name: string }[] }> {
  const rows = await ex
    .selectFrom('clusters')
    .select(['id', 'name', sql<number>`count(*) OVER ()`.as('total')])
    .where('datacenter_id', '=', id)
    .orderBy('name')
    .limit(limit)
    .execute();
  return {
    total: rows[0]?.total ?? 0,
    items: rows.map((r) => ({ kind: 'cluster' as const, id: r.id, name: r.name })),
  };
}
