import { type ExpressionBuilder, type Selectable, sql } from 'kysely';
import type { Database, Executor } from '../schema';
import type { EventSeverityColumn, EventsTable } from '../tables/events';
import { escapeLike } from './list';

/** The NOTIFY channel every committed audit event is announced on (payload: the event id). */
export const EVENTS_CHANNEL = 'vireo_events';

export type EventRow = Selectable<EventsTable>;

export interface NewEvent {
  kind: string;
  severity: EventSeverityColumn;
  message: string;
  objectKind?: string | null;
  objectId?: string | null;
  objectName?: string | null;
  userId?: string | null;
  username?: string | null;
  operationId?: string | null;
  details?: Record<string, unknown>;
}

/** Filters shared by the list, the replay and the live stream. */
export interface EventFilter {
  /** Any of these kind prefixes (`vm.` or an exact kind). */
  kinds?: readonly string[];
  severity?: EventSeverityColumn;
  objectId?: string;
  since?: Date;
  afterId?: number;
  /** Case-insensitive substring of the message. */
  search?: string;
}

/**
 * Inserts an event and queues its NOTIFY in the same transaction: PostgreSQL delivers the
 * notification only when (and if) the transaction commits, so listeners never hear of an event
 * that was rolled back.
 */
export async function insertEvent(executor: Executor, ev: NewEvent): Promise<{ id: number; time: Date }> {
  const [row] = await insertEvents(executor, [ev]);
  return row!;
}

/**
 * {@link insertEvent} for several events in one statement (rows and NOTIFYs in the order given).
 * One round trip whatever the count: the insert and its NOTIFYs used to be two per event, and
 * they sit inside short transactions that hold row locks (a VM start holds its cluster's, the
 * runner's claim holds up to 16 operations').
 */
export async function insertEvents(
  executor: Executor,
  evs: readonly NewEvent[],
): Promise<Array<{ id: number; time: Date }>> {
  if (evs.length === 0) return [];
  return executor
    .with('inserted', (db) =>
      db
        .insertInto('events')
        .values(
          evs.map((ev) => ({
            kind: ev.kind,
            severity: ev.severity,
            message: ev.message,
            object_kind: ev.objectKind ?? null,
            object_id: ev.objectId ?? null,
            object_name: ev.objectName ?? null,
            user_id: ev.userId ?? null,
            // Services often know only the user's id: store the name too, so the log still says who
            // after the account is gone.
            username:
              ev.username ??
              (ev.userId
                ? (eb: ExpressionBuilder<Database, 'events'>) =>
                    eb
                      .selectFrom('users')
                      .select(sql<string>`users.name || '@' || users.domain`.as('username'))
                      .where('users.id', '=', ev.userId!)
                : null),
            operation_id: ev.operationId ?? null,
            details: JSON.stringify(ev.details ?? {}),
          })),
        )
        .returning(['id', 'time']),
    )
    .selectFrom('inserted')
    .select([
      'inserted.id',
      'inserted.time',
      sql`pg_notify(${EVENTS_CHANNEL}, inserted.id::text)`.as('notified'),
    ])
    .orderBy('inserted.id')
    .execute()
    .then((rows) => rows.map((r) => ({ id: r.id, time: r.time })));
}

function applyFilter(eb: ExpressionBuilder<Database, 'events'>, f: EventFilter) {
  const conds = [];
  if (f.kinds?.length) conds.push(eb.or(f.kinds.map((k) => eb('kind', 'like', `${escapeLike(k)}%`))));
  if (f.severity) conds.push(eb('severity', '=', f.severity));
  if (f.objectId) conds.push(eb('object_id', '=', f.objectId));
  if (f.since) conds.push(eb('time', '>=', f.since));
  if (f.afterId !== undefined) conds.push(eb('id', '>', f.afterId));
  if (f.search) conds.push(eb('message', 'ilike', `%${escapeLike(f.search)}%`));
  return eb.and(conds);
}

/**
 * One page by id (newest first when `desc`); `after` is the last id of the previous page. Fetches
 * one row more than `limit` so the caller knows whether there is a next page.
 */
export async function listEvents(
  executor: Executor,
  filter: EventFilter,
  page: { limit: number; desc: boolean; after?: number },
): Promise<{ rows: EventRow[]; next: number | null }> {
  let q = executor
    .selectFrom('events')
    .selectAll()
    .where((eb) => applyFilter(eb, filter));
  if (page.after !== undefined) q = q.where('id', page.desc ? '<' : '>', page.after);
  const rows = await q
    .orderBy('id', page.desc ? 'desc' : 'asc')
    .limit(page.limit + 1)
    .execute();
  if (rows.length <= page.limit) return { rows, next: null };
  const kept = rows.slice(0, page.limit);
  return { rows: kept, next: kept.at(-1)!.id };
}

/** Oldest first, ids in (`afterId`, `upToId`]: what a reconnecting stream missed. */
export async function eventsBetween(
  executor: Executor,
  filter: EventFilter,
  afterId: number,
  upToId: number,
  limit: number,
): Promise<EventRow[]> {
  return executor
    .selectFrom('events')
    .selectAll()
    .where((eb) => applyFilter(eb, filter))
    .where('id', '>', afterId)
    .where('id', '<=', upToId)
    .orderBy('id', 'asc')
    .limit(limit)
    .execute();
}

/** Unfiltered, oldest first: the notifier's feed. Also returns the server's clock, read afterwards. */
export async function eventsAfter(
  executor: Executor,
  afterId: number,
  limit: number,
): Promise<{ rows: EventRow[]; serverTime: Date }> {
  const rows = await executor
    .selectFrom('events')
    .selectAll()
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
  // Read after the rows, so the time is later than the commit of every row just seen.
  const clock = await sql<{ now: Date }>`SELECT clock_timestamp() AS now`.execute(executor);
  return { rows, serverTime: clock.rows[0]!.now };
}

export async function maxEventId(executor: Executor): Promise<number> {
  const r = await executor
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('max'))
    .executeTakeFirst();
  return Number(r?.max ?? 0);
}

/** The id of the first event at or after `time` (for a stream that starts at a time). */
export async function firstEventIdAtOrAfter(executor: Executor, time: Date): Promise<number | undefined> {
  const r = await executor
    .selectFrom('events')
    .select('id')
    .where('time', '>=', time)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return r?.id;
}

/**
 * Whether a transaction that began at or before `time` (server clock) is still open in this
 * database, other than our own session. An event id allocated by such a transaction may still
 * commit; once none is left, a missing id is known to be a rollback.
 */
export async function openTransactionSince(executor: Executor, time: Date): Promise<boolean> {
  const r = await sql<{ open: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM pg_stat_activity
       WHERE datname = current_database()
         AND pid <> pg_backend_pid()
         AND backend_type = 'client backend'
         AND xact_start IS NOT NULL
         AND xact_start <= ${time}
    ) AS open`.execute(executor);
  return r.rows[0]?.open === true;
}

export async function countEventsBefore(executor: Executor, before: Date): Promise<number> {
  const r = await executor
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('time', '<', before)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Deletes up to `limit` of the oldest events older than `before`; returns how many went. */
export async function deleteEventsBefore(executor: Executor, before: Date, limit: number): Promise<number> {
  const r = await executor
    .deleteFrom('events')
    .where('id', 'in', (eb) =>
      eb.selectFrom('events').select('id').where('time', '<', before).orderBy('id').limit(limit),
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
