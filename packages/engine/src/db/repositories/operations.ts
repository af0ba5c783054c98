import { type Selectable, type SqlBool, sql } from 'kysely';
import type { Executor } from '../schema';
import { type PageRequest, type PageResult, type SortColumnType, escapeLike, toPage } from './list';
import type { OperationErrorJson, OperationStateColumn, OperationsTable } from '../tables/operations';

/**
 * The NOTIFY channel for operation changes. Payload: `{"id","state"}` (state `pending` wakes
 * runners, a terminal state wakes `?wait` long-polls, `cancel` tells the running engine).
 */
export const OPERATIONS_CHANNEL = 'vireo_operations';

export type OperationRow = Selectable<OperationsTable>;

export interface NewOperation {
  type: string;
  targetKind?: string | null;
  targetId?: string | null;
  input?: Record<string, unknown>;
  createdBy?: string | null;
}

export interface OperationFilter {
  state?: OperationStateColumn;
  type?: string;
  targetId?: string;
  /** Case-insensitive substring of the type. */
  search?: string;
}

const leaseEnd = (leaseMs: number) => sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})`;

export async function insertOperation(executor: Executor, op: NewOperation): Promise<OperationRow> {
  return executor
    .insertInto('operations')
    .values({
      type: op.type,
      target_kind: op.targetKind ?? null,
      target_id: op.targetId ?? null,
      input: JSON.stringify(op.input ?? {}),
      created_by: op.createdBy ?? null,
      progress_message: null,
      started_at: null,
      finished_at: null,
      claimed_by: null,
      lease_until: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Queued in the caller's transaction: delivered on commit, dropped on rollback. */
export async function notifyOperation(executor: Executor, id: string, state: string): Promise<void> {
  await sql`SELECT pg_notify(${OPERATIONS_CHANNEL}, ${JSON.stringify({ id, state })})`.execute(executor);
}

/** {@link notifyOperation} for several operations in one statement (one NOTIFY each, in order). */
export async function notifyOperations(
  executor: Executor,
  ids: readonly string[],
  state: string,
): Promise<void> {
  if (ids.length === 0) return;
  const payloads = ids.map((id) => JSON.stringify({ id, state }));
  await sql`SELECT pg_notify(${OPERATIONS_CHANNEL}, p) FROM unnest(${payloads}::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n`.execute(
    executor,
  );
}

export async function operationTypeExists(executor: Executor, type: string): Promise<boolean> {
  const r = await executor
    .selectFrom('operation_types')
    .select('name')
    .where('name', '=', type)
    .executeTakeFirst();
  return r !== undefined;
}

export async function getOperation(
  executor: Executor,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<OperationRow | undefined> {
  let q = executor.selectFrom('operations').selectAll().where('id', '=', id);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Sortable columns of the operation list (for http/list.ts's pageRequest). */
export const OPERATION_SORT_COLUMNS: Record<string, SortColumnType> = { created_at: 'timestamptz' };

/** One page in `created_at` order (then id), keyset-paginated like every other list. */
export async function listOperations(
  executor: Executor,
  filter: OperationFilter,
  page: PageRequest,
): Promise<PageResult<OperationRow & { sort_key: string }>> {
  let q = executor.selectFrom('operations').selectAll();
  if (filter.state) q = q.where('state', '=', filter.state);
  if (filter.type) q = q.where('type', '=', filter.type);
  if (filter.targetId) q = q.where('target_id', '=', filter.targetId);
  const search = page.search ?? filter.search;
  if (search) q = q.where(sql<SqlBool>`type ILIKE ${`%${escapeLike(search)}%`} ESCAPE '\\'`);
  if (page.after) {
    const cmp = sql.raw(page.sort.desc ? '<' : '>');
    q = q.where(
      sql<SqlBool>`(created_at, id) ${cmp} (${page.after.key}::timestamptz, ${page.after.id}::uuid)`,
    );
  }
  const dir = page.sort.desc ? 'desc' : 'asc';
  const rows = await q
    .select(sql<string>`created_at::text`.as('sort_key'))
    .orderBy('created_at', dir)
    .orderBy('id', dir)
    .limit(page.limit + 1)
    .execute();
  return toPage(rows, page.limit);
}

/**
 * Claims up to `limit` of the oldest pending operations of `types` for `holder`, in one statement.
 * `SKIP LOCKED` lets several engines claim at once without waiting on each other or taking the same
 * row. One statement for many rows matters in bursts: 50 VM starts claimed one row per transaction
 * waited up to 2 s for their turn.
 */
export async function claimPending(
  executor: Executor,
  holder: string,
  types: readonly string[],
  leaseMs: number,
  limit: number,
): Promise<OperationRow[]> {
  if (types.length === 0 || limit < 1) return [];
  const rows = await executor
    .updateTable('operations')
    .set({
      state: 'running',
      claimed_by: holder,
      lease_until: leaseEnd(leaseMs),
      started_at: sql<Date>`coalesce(started_at, now())`,
      updated_at: sql<Date>`now()`,
      attempts: sql<number>`attempts + 1`,
    })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('operations')
        .select('id')
        .where('state', '=', 'pending')
        .where('type', 'in', types)
        .orderBy('created_at')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
  // UPDATE … RETURNING has no order: launch the oldest first.
  return rows.sort((x, y) => x.created_at.getTime() - y.created_at.getTime());
}

/** Extends every lease `holder` has; returns what it still holds and whether cancel was asked. */
export async function renewLeases(
  executor: Executor,
  holder: string,
  leaseMs: number,
): Promise<{ id: string; cancel_requested: boolean }[]> {
  return executor
    .updateTable('operations')
    .set({ lease_until: leaseEnd(leaseMs) })
    .where('claimed_by', '=', holder)
    .where('state', '=', 'running')
    .returning(['id', 'cancel_requested'])
    .execute();
}

/** Returns false when `holder` no longer owns the operation (its lease was taken over). */
/**
 * Records progress if this holder still owns the running operation. Also reports a pending cancel,
 * so a handler that reports progress between steps stops at the next step even if the NOTIFY that
 * normally carries the cancel is late or lost.
 */
export async function updateProgress(
  executor: Executor,
  id: string,
  holder: string,
  progress: number,
  message: string | null,
): Promise<'held' | 'cancel_requested' | 'lost'> {
  const r = await executor
    .updateTable('operations')
    .set({ progress, progress_message: message, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('claimed_by', '=', holder)
    .where('state', '=', 'running')
    .returning('cancel_requested')
    .executeTakeFirst();
  if (!r) return 'lost';
  return r.cancel_requested ? 'cancel_requested' : 'held';
}

export interface Outcome {
  state: 'succeeded' | 'failed' | 'cancelled';
  result?: Record<string, unknown> | null;
  error?: OperationErrorJson | null;
}

/**
 * Moves an operation to a terminal state. With `holder`, only if that runner still owns it; a
 * runner whose lease was taken over must not overwrite what the new owner decided.
 */
export async function finishOperation(
  executor: Executor,
  id: string,
  outcome: Outcome,
  guard: { holder?: string; fromStates: readonly OperationStateColumn[] },
): Promise<OperationRow | undefined> {
  let q = executor
    .updateTable('operations')
    .set({
      state: outcome.state,
      result: outcome.result ? JSON.stringify(outcome.result) : null,
      error: outcome.error ? JSON.stringify(outcome.error) : null,
      ...(outcome.state === 'succeeded' ? { progress: 1 } : {}),
      finished_at: sql<Date>`now()`,
      updated_at: sql<Date>`now()`,
      claimed_by: null,
      lease_until: null,
    })
    .where('id', '=', id)
    .where('state', 'in', guard.fromStates);
  if (guard.holder) q = q.where('claimed_by', '=', guard.holder);
  return q.returningAll().executeTakeFirst();
}

/** Asks the runner of a running operation to stop. */
export async function markCancelRequested(executor: Executor, id: string): Promise<OperationRow | undefined> {
  return executor
    .updateTable('operations')
    .set({ cancel_requested: true, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('state', 'in', ['pending', 'running'])
    .returningAll()
    .executeTakeFirst();
}

/** Running operations whose runner stopped renewing; locked so one sweeper handles each. */
export async function lockExpiredLeases(executor: Executor, limit: number): Promise<OperationRow[]> {
  return executor
    .selectFrom('operations')
    .selectAll()
    .where('state', '=', 'running')
    .where('lease_until', '<', sql<Date>`now()`)
    .orderBy('lease_until')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/** Hands a running operation back to the queue (a resumable one whose engine went away). */
export async function requeueOperation(executor: Executor, id: string): Promise<OperationRow | undefined> {
  return executor
    .updateTable('operations')
    .set({ state: 'pending', claimed_by: null, lease_until: null, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('state', '=', 'running')
    .returningAll()
    .executeTakeFirst();
}
