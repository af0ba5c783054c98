import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { ClusterRow } from '../tables/inventory';
import { applyPage, type PageRequest, type PageResult, type SortColumnType, toPage } from './list';

export const CLUSTER_SORT_COLUMNS: Record<string, SortColumnType> = {
  name: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
};

export const CLUSTER_NAME_CONSTRAINT = 'clusters_name_key';

export interface ClusterFields {
  name: string;
  description: string;
  cpu_type: string;
  memory_overcommit_percent: number;
  scheduling_policy: string;
}

export interface ClusterFilter {
  datacenterId?: string;
}

export async function listClusters(
  ex: Executor,
  page: PageRequest,
  filter: ClusterFilter = {},
): Promise<PageResult<ClusterRow & { sort_key: string }>> {
  let qb = ex.selectFrom('clusters').selectAll('clusters');
  if (filter.datacenterId) qb = qb.where('clusters.datacenter_id', '=', filter.datacenterId);
  const rows = await applyPage(qb, 'clusters', page, CLUSTER_SORT_COLUMNS).execute();
  return toPage(rows, page.limit);
}

export async function findCluster(ex: Executor, id: string): Promise<ClusterRow | undefined> {
  return ex.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function lockCluster(ex: Executor, id: string): Promise<ClusterRow | undefined> {
  return ex.selectFrom('clusters').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function insertCluster(
  ex: Executor,
  fields: ClusterFields & { datacenter_id: string },
): Promise<ClusterRow> {
  return ex.insertInto('clusters').values(fields).returningAll().executeTakeFirstOrThrow();
}

/** Like updateDatacenter: optimistic on `version`, undefined when nothing matched. */
export async function updateCluster(
  ex: Executor,
  id: string,
  expectedVersion: number,
  patch: Partial<ClusterFields>,
): Promise<ClusterRow | undefined> {
  return ex
    .updateTable('clusters')
    .set({ ...patch, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteCluster(ex: Executor, id: string): Promise<boolean> {
  const res = await ex.deleteFrom('clusters').where('id', '=', id).executeTakeFirst();
  return res.numDeletedRows > 0n;
}
