import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { VmNicJson, VmRow } from '../tables/vms';
import { applyPage, type PageRequest, type PageResult, type SortColumnType, toPage } from './list';

export const VM_SORT_COLUMNS: Record<string, SortColumnType> = {
  name: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
};

export const VM_NAME_CONSTRAINT = 'vms_name_key';
export const VM_CLUSTER_FK = 'vms_cluster_id_fkey';

/** Hardware and identity a user sets; state columns are written by their own functions. */
export interface VmFields {
  name: string;
  cpus: number;
  memory_mib: number;
  os_type: string;
  boot_order: string[];
  cdrom_image: string | null;
  /** An ISO domain's file as CD-ROM (0009_storage_domains.sql); both null or both set. */
  cdrom_storage_domain_id?: string | null;
  cdrom_file?: string | null;
  /** `vnc` or `serial` (0018_headless_console.sql); the column defaults to `vnc`. */
  console_type?: string;
}

export interface VmFilter {
  clusterId?: string;
  hostId?: string;
}

export async function listVms(
  ex: Executor,
  page: PageRequest,
  filter: VmFilter = {},
): Promise<PageResult<VmRow & { sort_key: string }>> {
  let qb = ex.selectFrom('vms').selectAll('vms');
  if (filter.clusterId) qb = qb.where('vms.cluster_id', '=', filter.clusterId);
  if (filter.hostId) qb = qb.where('vms.host_id', '=', filter.hostId);
  const rows = await applyPage(qb, 'vms', page, VM_SORT_COLUMNS, ['name']).execute();
  return toPage(rows, page.limit);
}

export async function findVm(ex: Executor, id: string): Promise<VmRow | undefined> {
  return ex.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Row lock: every mutating VM action takes it first (one action per VM at a time). */
export async function lockVm(ex: Executor, id: string): Promise<VmRow | undefined> {
  return ex.selectFrom('vms').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** A new VM row; `id` is given when a VM comes back as itself (an import, a domain registration). */
export async function insertVm(
  ex: Executor,
  fields: VmFields & { cluster_id: string; nics: VmNicJson[]; id?: string },
): Promise<VmRow> {
  return ex
    .insertInto('vms')
    .values({
      ...fields,
      boot_order: JSON.stringify(fields.boot_order),
      nics: JSON.stringify(fields.nics),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Optimistic on `version`; undefined when the row changed or vanished. */
export async function updateVm(
  ex: Executor,
  id: string,
  expectedVersion: number,
  patch: Partial<VmFields>,
): Promise<VmRow | undefined> {
  const { boot_order, ...rest } = patch;
  return ex
    .updateTable('vms')
    .set({
      ...rest,
      ...(boot_order ? { boot_order: JSON.stringify(boot_order) } : {}),
      version: sql`version + 1`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
}

/** Desired state (and placement) changes from actions; the caller holds the row lock. */
export async function setVmDesired(
  ex: Executor,
  id: string,
  change: { desired_state: string; host_id?: string | null },
): Promise<VmRow> {
  return ex
    .updateTable('vms')
    .set({ ...change, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Observed state, written only by the VM monitor, for a report from `hostId`: changes nothing unless
 * the VM is placed on that host. Returns the row when the state changed, so the monitor wakes the
 * controller only for real transitions.
 * One statement (no transaction around a read and a write): a burst of VM starts reports three
 * states per VM, and the four round trips each report took were a measurable part of the engine's
 * and PostgreSQL's CPU in that burst.
 */
export async function setVmObservedOnHost(
  ex: Executor,
  id: string,
  hostId: string,
  observed: { state: string; reason: string },
): Promise<VmRow | undefined> {
  return ex
    .updateTable('vms')
    .set({ state: observed.state, state_reason: observed.reason, state_changed_at: sql`now()` })
    .where('id', '=', id)
    .where('host_id', '=', hostId)
    .where((eb) => eb.or([eb('state', '!=', observed.state), eb('state_reason', '!=', observed.reason)]))
    .returningAll()
    .executeTakeFirst();
}

export async function deleteVm(ex: Executor, id: string): Promise<boolean> {
  const res = await ex.deleteFrom('vms').where('id', '=', id).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/** Memory (MiB) that VMs placed on each host would use when running, for placement. */
export async function committedMemoryByHost(ex: Executor, hostIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>(hostIds.map((id) => [id, 0]));
  if (hostIds.length === 0) return out;
  const rows = await ex
    .selectFrom('vms')
    .select(['host_id', sql<string>`sum(memory_mib)`.as('mib')])
    .where('host_id', 'in', hostIds)
    // A VM counts while it runs or is meant to run: a start in flight must reserve its memory.
    .where((eb) => eb.or([eb('desired_state', '!=', 'down'), eb('state', '!=', 'down')]))
    .groupBy('host_id')
    .execute();
  for (const r of rows) if (r.host_id) out.set(r.host_id, Number(r.mib));
  return out;
}

/** Where the VM is placed, or undefined when it does not exist. */
export async function findVmHost(ex: Executor, id: string): Promise<{ host_id: string | null } | undefined> {
  return ex.selectFrom('vms').select(['host_id']).where('id', '=', id).executeTakeFirst();
}

export async function listVmIdsOnHost(ex: Executor, hostId: string): Promise<string[]> {
  const rows = await ex.selectFrom('vms').select(['id']).where('host_id', '=', hostId).execute();
  return rows.map((r) => r.id);
}

/** A host went away: what runs there is no longer known. Returns the VMs that changed. */
export async function markVmsUnknownOnHost(ex: Executor, hostId: string): Promise<string[]> {
  const rows = await ex
    .updateTable('vms')
    .set({ state: 'unknown', state_reason: 'host_disconnected', state_changed_at: sql`now()` })
    .where('host_id', '=', hostId)
    .where('state', '!=', 'down')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}
