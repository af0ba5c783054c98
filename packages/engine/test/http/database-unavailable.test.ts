import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/db/repositories/pg-errors';
import { registerErrorHandling } from '../../src/http/plugins/errors';
import { createTestDb, type TestDb } from '../support/db';

describe('database failures', () => {
  let db: TestDb;
  // Nothing listens on port 1 of the loopback: connecting is refused at once.
  const down = new pg.Pool({
    host: '127.0.0.1',
    port: 1,
    user: 'x',
    database: 'x',
    connectionTimeoutMillis: 2000,
  });
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await down.end();
    await db?.drop();
  });

  async function errorOf(p: Promise<unknown>): Promise<unknown> {
    try {
      await p;
    } catch (err) {
      return err;
    }
    throw new Error('expected a failure');
  }

  it('tells an unreachable database from a bad query', async () => {
    expect(isDatabaseUnavailable(await errorOf(down.query('SELECT 1')))).toBe(true);
    expect(isDatabaseUnavailable(await errorOf(db.pool.query('SELECT * FROM no_such_table')))).toBe(false);
    expect(isDatabaseUnavailable(await errorOf(db.pool.query('SELECT 1/0')))).toBe(false);
  });

  it('answers 503 database_unavailable with Retry-After, and 500 internal_error for a broken query', async () => {
    const app = Fastify();
    registerErrorHandling(app);
    app.get('/down', async () => down.query('SELECT 1'));
    app.get('/bug', async () => db.pool.query('SELECT * FROM no_such_table'));
    try {
      const res = await app.inject({ method: 'GET', url: '/down' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({ error: { code: 'database_unavailable' } });
      const bug = await app.inject({ method: 'GET', url: '/bug' });
      expect(bug.statusCode).toBe(500);
      const body = bug.json() as { error: { code: string; message: string } };
      expect(body.error.code).toBe('internal_error');
      // The SQL error's text stays in the log, not in the answer.
      expect(body.error.message).not.toContain('no_such_table');
    } finally {
      await app.close();
    }
  });
});
