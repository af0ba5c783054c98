import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../../test/support/db';
import { deleteDatacenter, findDatacenter, insertDatacenter, updateDatacenter } from './datacenters';

/** Real PostgreSQL: findDatacenter's batched reads return what one query per read would. */
describe('findDatacenter', () => {
  let t: TestDb;
  const fields = (name: string) => ({
    name,
    description: '',
    storage_format: 'v1',
    compatibility_version: '1.0',
  });

  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('answers concurrent reads with one query, each with its own row', async () => {
    const a = await insertDatacenter(t.db, fields('batch-a'));
    const b = await insertDatacenter(t.db, fields('batch-b'));
    let acquired = 0;
    const onAcquire = () => {
      acquired++;
    };
    t.pool.on('acquire', onAcquire);
    try {
      const got = await Promise.all([
        findDatacenter(t.db, a.id),
        findDatacenter(t.db, b.id.toUpperCase()),
        findDatacenter(t.db, randomUUID()),
        findDatacenter(t.db, a.id),
      ]);
      expect(got.map((r) => r?.name)).toEqual(['batch-a', 'batch-b', undefined, 'batch-a']);
      expect(got[0]).toEqual(a);
      expect(acquired).toBe(1);
    } finally {
      t.pool.off('acquire', onAcquire);
    }
  });

  it('sees every committed write at once (nothing is cached)', async () => {
    const row = await insertDatacenter(t.db, fields('batch-fresh'));
    const updated = await updateDatacenter(t.db, row.id, row.version, { description: 'changed' });
    expect((await findDatacenter(t.db, row.id))?.description).toBe('changed');
    expect((await findDatacenter(t.db, row.id))?.version).toBe(updated?.version);
    await deleteDatacenter(t.db, row.id);
    expect(await findDatacenter(t.db, row.id)).toBeUndefined();
  });

  it('does not let a malformed id fail the reads batched beside it', async () => {
    const row = await insertDatacenter(t.db, fields('batch-beside'));
    const [bad, good] = await Promise.allSettled([
      findDatacenter(t.db, 'not-a-uuid'),
      findDatacenter(t.db, row.id),
    ]);
    // The malformed id fails exactly as a single query would (invalid uuid text).
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: '22P02' } });
    expect(good).toMatchObject({ status: 'fulfilled', value: { id: row.id } });
  });

  it('reads inside a transaction see its uncommitted writes', async () => {
    const seen = await t.db.transaction().execute(async (tx) => {
      const row = await insertDatacenter(tx, fields('batch-in-tx'));
      return findDatacenter(tx, row.id);
    });
    expect(seen?.name).toBe('batch-in-tx');
  });
});
