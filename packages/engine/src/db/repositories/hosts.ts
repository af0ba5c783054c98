import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { CertificateRow, HostRow } from '../tables/hosts';
import { applyPage, type PageRequest, type PageResult, type SortColumnType, toPage } from './list';

export const HOST_SORT_COLUMNS: Record<string, SortColumnType> = {
  name: 'text',
  created_at: 'timestamptz',
};

export const HOST_NAME_CONSTRAINT = 'hosts_name_key';

export interface HostFilter {
  clusterId?: string;
}

export async function listHosts(
  ex: Executor,
  page: PageRequest,
  filter: HostFilter = {},
): Promise<PageResult<HostRow & { sort_key: string }>> {
  let qb = ex.selectFrom('hosts').selectAll('hosts');
  if (filter.clusterId) qb = qb.where('hosts.cluster_id', '=', filter.clusterId);
  const rows = await applyPage(qb, 'hosts', page, HOST_SORT_COLUMNS, ['name']).execute();
  return toPage(rows, page.limit);
}

/** Every host, for the agent hub and the monitor (small: one row per machine). */
export async function allHosts(ex: Executor): Promise<HostRow[]> {
  return ex.selectFrom('hosts').selectAll().orderBy('created_at').execute();
}

export async function findHost(ex: Executor, id: string): Promise<HostRow | undefined> {
  return ex.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function lockHost(ex: Executor, id: string): Promise<HostRow | undefined> {
  return ex.selectFrom('hosts').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function insertHost(
  ex: Executor,
  fields: { name: string; address: string; cluster_id: string; agent_port: number; state: string },
): Promise<HostRow> {
  return ex.insertInto('hosts').values(fields).returningAll().executeTakeFirstOrThrow();
}

/** Writes observed facts (monitor); bumps `version` so ETags change. */
export async function updateHost(
  ex: Executor,
  id: string,
  patch: Partial<{
    state: string;
    state_reason: string;
    state_changed_at: Date;
    certificate_serial: string;
    certificate_not_after: Date;
    capabilities: unknown;
    last_stats: unknown;
    last_heartbeat_at: Date;
    agent_version: string;
  }>,
): Promise<HostRow | undefined> {
  const values = { ...patch } as Record<string, unknown>;
  for (const k of ['capabilities', 'last_stats'] as const) {
    if (k in values) values[k] = JSON.stringify(values[k]);
  }
  return ex
    .updateTable('hosts')
    .set({ ...values, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteHost(ex: Executor, id: string): Promise<boolean> {
  const res = await ex.deleteFrom('hosts').where('id', '=', id).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

export async function insertJoinToken(
  ex: Executor,
  fields: { token_hash: Buffer; cluster_id: string; expires_at: Date; created_by: string | null },
): Promise<{ id: string }> {
  return ex.insertInto('join_tokens').values(fields).returning('id').executeTakeFirstOrThrow();
}

/** Locks the token row so two joins racing with one token cannot both use it. */
export async function lockJoinToken(ex: Executor, tokenHash: Buffer) {
  return ex
    .selectFrom('join_tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .forUpdate()
    .executeTakeFirst();
}

export async function markJoinTokenUsed(ex: Executor, id: string, hostId: string): Promise<void> {
  await ex
    .updateTable('join_tokens')
    .set({ used_at: sql`now()`, used_by_host: hostId })
    .where('id', '=', id)
    .execute();
}

/** Records a newly issued certificate and marks the subject's earlier ones superseded. */
export async function recordCertificate(
  ex: Executor,
  cert: {
    kind: 'engine' | 'engine_client' | 'host';
    subject_id: string | null;
    subject_name: string;
    serial: string;
    not_before: Date;
    not_after: Date;
    fingerprint: string;
  },
): Promise<void> {
  let q = ex
    .updateTable('certificates')
    .set({ superseded_at: sql`now()` })
    .where('kind', '=', cert.kind)
    .where('superseded_at', 'is', null)
    .where('serial', '<>', cert.serial);
  q =
    cert.subject_id === null
      ? q.where('subject_id', 'is', null)
      : q.where('subject_id', '=', cert.subject_id);
  await q.execute();
  await ex
    .insertInto('certificates')
    .values(cert)
    .onConflict((oc) => oc.column('serial').doNothing())
    .execute();
}

/** Certificates still in use (not superseded), soonest expiry first. */
export async function currentCertificates(ex: Executor): Promise<CertificateRow[]> {
  return ex
    .selectFrom('certificates')
    .selectAll()
    .where('superseded_at', 'is', null)
    .orderBy('not_after')
    .execute();
}

/** VMs placed on the host that are not down, or are meant to run (the engine's view). */
export async function countActiveVmsOnHost(ex: Executor, hostId: string): Promise<number> {
  const row = await ex
    .selectFrom('vms')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('host_id', '=', hostId)
    .where((eb) => eb.or([eb('state', '<>', 'down'), eb('desired_state', '<>', 'down')]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
