import { type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import type { Database } from '../schema';

/** SQL type of a sortable column, so the cursor's text key is cast back correctly. */
export type SortColumnType = 'text' | 'timestamptz';

/**
 * One page request, already validated by the HTTP layer (http/list.ts): the repository trusts that
 * `sort.field` is in its allow-list and that `after.key` parses as that column's type.
 */
export interface PageRequest {
  limit: number;
  sort: { field: string; desc: boolean };
  /** Keyset position: the sort key (as text) and id of the last row of the previous page. */
  after?: { key: string; id: string };
  search?: string;
}

/** A page of rows, each with the text form of its sort key for the next cursor. */
export interface PageResult<Row> {
  rows: Row[];
  /** Position after the last row, or null when there are no more rows. */
  next: { key: string; id: string } | null;
}

/** Escapes LIKE wildcards so a user's `%` or `_` matches literally. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Applies search, keyset position, order and limit (+1 to detect a next page) to a query over
 * one table that has `id` and `name` columns; `?search=` matches `searchColumns` (tables without
 * a `description` column, such as vms and hosts, pass `['name']`). Rows come back with `sort_key`.
 */
export function applyPage<TB extends keyof Database, O>(
  qb: SelectQueryBuilder<Database, TB, O>,
  table: string,
  page: PageRequest,
  columns: Record<string, SortColumnType>,
  searchColumns: readonly string[] = ['name', 'description'],
) {
  const type = columns[page.sort.field];
  if (!type) throw new Error(`sort field ${page.sort.field} is not allowed for ${table}`);
  const col = sql.ref(`${table}.${page.sort.field}`);
  const id = sql.ref(`${table}.id`);
  const cast = sql.raw(type);
  let q = qb;
  if (page.search) {
    const pattern = `%${escapeLike(page.search)}%`;
    const matches = searchColumns.map(
      (c) => sql<SqlBool>`${sql.ref(`${table}.${c}`)} ILIKE ${pattern} ESCAPE '\\'`,
    );
    q = q.where(sql<SqlBool>`(${sql.join(matches, sql` OR `)})`);
  }
  if (page.after) {
    const cmp = sql.raw(page.sort.desc ? '<' : '>');
    q = q.where(sql<SqlBool>`(${col}, ${id}) ${cmp} (${page.after.key}::${cast}, ${page.after.id}::uuid)`);
  }
  const dir = sql.raw(page.sort.desc ? 'DESC' : 'ASC');
  return q
    .select(sql<string>`${col}::text`.as('sort_key'))
    .orderBy(sql`${col} ${dir}`)
    .orderBy(sql`${id} ${dir}`)
    .limit(page.limit + 1);
}

/** Cuts the extra row `applyPage` fetched and computes the next position. */
export function toPage<Row extends { id: string; sort_key: string }>(
  rows: Row[],
  limit: number,
): PageResult<Row> {
  if (rows.length <= limit) return { rows, next: null };
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1]!;
  return { rows: kept, next: { key: last.sort_key, id: last.id } };
}
