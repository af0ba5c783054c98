import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type DbHandle, openDb } from '../../src/db/connection';

export interface TestDb extends DbHandle {
  name: string;
  /** pg settings for this database (e.g. to hand to a child engine process). */
  config: pg.ClientConfig;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * A fresh, fully migrated database on the run's real PostgreSQL (see test/support/global-setup.ts).
 * Call `drop()` in afterAll.
 */
export async function createTestDb(): Promise<TestDb> {
  const conn = inject('pg');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client(conn);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE vireo_template`);
  } finally {
    await admin.end();
  }
  const config = { ...conn, database: name };
  const handle = openDb(config, { max: 5 });
  return {
    ...handle,
    name,
    config,
    async drop() {
      await handle.close();
      const a = new pg.Client(conn);
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
