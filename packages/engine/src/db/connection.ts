import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { prepareStatements } from './prepared';
import type { Database, Db } from './schema';

// timestamptz and bigint come back as strings by default; the engine wants Date and number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DbHandle {
  db: Db;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Accepts a `postgres://` URL or discrete settings (the embedded server's unix socket). */
export type DbTarget = string | pg.PoolConfig;

export function openDb(
  target: DbTarget,
  opts: { max?: number; onError?: (err: Error) => void } = {},
): DbHandle {
  const base: pg.PoolConfig = typeof target === 'string' ? { connectionString: target } : target;
  const pool = new pg.Pool({ max: opts.max ?? 10, idleTimeoutMillis: 30_000, ...base });
  // An idle client losing its server (restart, network) must not crash the engine.
  pool.on('error', (err) => opts.onError?.(err));
  prepareStatements(pool);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    async close() {
      await db.destroy();
    },
  };
}
