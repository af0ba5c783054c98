import type pg from 'pg';

/** Distinct statements named per pool; later ones run unnamed (bounds PostgreSQL's per-session memory). */
export const DEFAULT_PREPARED_LIMIT = 500;

type QueryFn = (...args: unknown[]) => unknown;

/**
 * Makes the pool's parameterised queries named prepared statements, so PostgreSQL parses and plans
 * each distinct statement once per connection instead of on every request: on the hot read path
 * (GET by id) that parse/plan was a third of the database's CPU per request. Kysely compiles a
 * given query shape to the same SQL text every time, so the SQL text is the statement's identity
 * and parameters never enter the name. Queries without parameters (BEGIN, COMMIT, DDL) and
 * anything other than `(text, values)` calls (cursors) pass through unchanged. pg tracks which
 * names each connection has parsed and forgets a name whose parse failed.
 */
export function prepareStatements(pool: pg.Pool, limit = DEFAULT_PREPARED_LIMIT): void {
  const names = new Map<string, string>();
  const nameFor = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < limit) {
      name = `vireo_${names.size.toString(36)}`;
      names.set(text, name);
    }
    return name;
  };
  // 'connect' fires for each new client before anyone acquires it.
  pool.on('connect', (client) => {
    const query = (client.query as QueryFn).bind(client);
    (client as unknown as { query: QueryFn }).query = (
      text: unknown,
      values?: unknown,
      callback?: unknown,
    ) => {
      if (typeof text === 'string' && Array.isArray(values) && values.length > 0) {
        const name = nameFor(text);
        if (name !== undefined) return query({ name, text, values }, callback);
      }
      return query(text, values, callback);
    };
  });
}
