import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/support/db';
import { prepareStatements } from './prepared';

/** Real PostgreSQL: what the server itself says it has prepared for this session. */
async function prepared(client: pg.PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ statement: string }>(
    'SELECT statement FROM pg_prepared_statements ORDER BY statement',
  );
  return rows.map((r) => r.statement);
}

describe('prepareStatements', () => {
  let t: TestDb;
  let pool: pg.Pool;

  beforeAll(async () => {
    t = await createTestDb();
    pool = new pg.Pool({ ...t.config, max: 1 });
    prepareStatements(pool, 2);
  });
  afterAll(async () => {
    await pool?.end();
    await t?.drop();
  });

  it('prepares a parameterised statement once per connection and reuses it', async () => {
    const client = await pool.connect();
    try {
      const sql = 'SELECT $1::int + 1 AS n';
      expect((await client.query(sql, [1])).rows).toEqual([{ n: 2 }]);
      expect((await client.query(sql, [41])).rows).toEqual([{ n: 42 }]);
      // Not prepared: no parameters.
      await client.query('SELECT 1', []);
      expect(await prepared(client)).toEqual([sql]);
    } finally {
      client.release();
    }
  });

  it('reports a statement that fails to parse each time, not as a missing prepared statement', async () => {
    const client = await pool.connect();
    try {
      for (let i = 0; i < 2; i++) {
        await expect(client.query('SELECT $1::int FROM no_such_table', [1])).rejects.toMatchObject({
          code: '42P01',
        });
      }
    } finally {
      client.release();
    }
  });

  it('runs statements past the limit unnamed', async () => {
    const client = await pool.connect();
    try {
      // The limit (2) is used up by the two statements above.
      expect((await client.query('SELECT $1::text AS s', ['x'])).rows).toEqual([{ s: 'x' }]);
      expect(await prepared(client)).not.toContain('SELECT $1::text AS s');
    } finally {
      client.release();
    }
  });
});
