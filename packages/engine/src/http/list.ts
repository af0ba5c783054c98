import { LIST_LIMIT_DEFAULT } from '@vireo/api';
import type { PageRequest, PageResult, SortColumnType } from '../db/repositories/list';
import { InvalidInput } from '../errors';

/** The list query parameters every list route shares (after schema validation). */
export interface ListParams {
  limit?: number;
  cursor?: string;
  search?: string;
  sort?: string;
}

interface CursorPayload {
  /** The sort the cursor was made for: a cursor is only valid with the same sort. */
  s: string;
  k: string;
  i: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// PostgreSQL's text form of timestamptz, e.g. `2026-01-02 03:04:05.123456+00`.
const PG_TIMESTAMPTZ_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const MAX_KEY_LENGTH = 512;

/** Cursors are opaque to clients: base64url of the sort and the last row's (sort key, id). */
export function encodeCursor(sort: string, next: { key: string; id: string }): string {
  const payload: CursorPayload = { s: sort, k: next.key, i: next.id };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

function invalidCursor(reason: string): InvalidInput {
  return new InvalidInput(
    'invalid_cursor',
    `the cursor is not valid (${reason}); start again from the first page`,
    {
      details: { parameter: 'cursor' },
    },
  );
}

/**
 * Decodes a client-supplied cursor. The cursor is hostile input: every part is checked so that
 * nothing malformed reaches SQL (where a bad cast would otherwise be a 500).
 */
export function decodeCursor(
  cursor: string,
  sort: string,
  type: SortColumnType,
): { key: string; id: string } {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor('not base64url');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor('undecodable');
  }
  const p = payload as Partial<CursorPayload> | null;
  if (typeof p !== 'object' || p === null || typeof p.s !== 'string' || typeof p.k !== 'string') {
    throw invalidCursor('malformed');
  }
  if (typeof p.i !== 'string' || !UUID_RE.test(p.i)) throw invalidCursor('malformed');
  if (p.s !== sort) throw invalidCursor('made for another sort order');
  if (p.k.length > MAX_KEY_LENGTH || p.k.includes('\u0000')) throw invalidCursor('malformed');
  if (type === 'timestamptz' && !PG_TIMESTAMPTZ_RE.test(p.k)) throw invalidCursor('malformed');
  return { key: p.k, id: p.i };
}

/**
 * Turns validated list parameters into a repository page request: checks `sort` against the
 * allow-list (`invalid_sort`) and decodes the cursor (`invalid_cursor`).
 */
export function pageRequest(
  params: ListParams,
  columns: Record<string, SortColumnType>,
  defaultSort = 'name',
): PageRequest & { sortSpec: string } {
  const sortSpec = params.sort ?? defaultSort;
  const desc = sortSpec.startsWith('-');
  const field = desc ? sortSpec.slice(1) : sortSpec;
  const type = Object.hasOwn(columns, field) ? columns[field] : undefined;
  if (!type) {
    throw new InvalidInput('invalid_sort', `cannot sort by "${sortSpec.slice(0, 64)}"`, {
      details: { parameter: 'sort', allowed: Object.keys(columns) },
    });
  }
  return {
    limit: params.limit ?? LIST_LIMIT_DEFAULT,
    sort: { field, desc },
    sortSpec,
    ...(params.cursor ? { after: decodeCursor(params.cursor, sortSpec, type) } : {}),
    ...(params.search ? { search: params.search } : {}),
  };
}

/** The `{items, next_cursor}` envelope. */
export function pageBody<Row, Item>(
  page: PageResult<Row>,
  sortSpec: string,
  toItem: (row: Row) => Item,
): { items: Item[]; next_cursor: string | null } {
  return {
    items: page.rows.map(toItem),
    next_cursor: page.next ? encodeCursor(sortSpec, page.next) : null,
  };
}
