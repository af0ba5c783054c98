import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimPending, insertOperation } from '../../src/db/repositories/operations';
import { createTestDb, type TestDb } from '../support/db';

/** Batch claims on real PostgreSQL: oldest first, never one row twice, other types untouched. */
describe('claimPending', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
    await t.db
      .insertInto('operation_types')
      .values([
        { name: 'test.claim', description: 'test-only' },
        { name: 'test.other', description: 'test-only' },
      ])
      .execute();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('two engines claiming at once split the pending rows between them, oldest first', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await insertOperation(t.db, { type: 'test.claim' })).id);
    const other = await insertOperation(t.db, { type: 'test.other' });

    const claimIn = (holder: string, limit: number) =>
      t.db.transaction().execute((trx) => claimPending(trx, holder, ['test.claim'], 30_000, limit));
    const [a, b] = await Promise.all([claimIn('engine-a', 4), claimIn('engine-b', 4)]);
    const ids = [...a, ...b].map((r) => r.id);
    expect(new Set(ids).size).toBe(7);
    expect([...ids].sort()).toEqual([...made].sort());
    for (const rows of [a, b]) {
      const created = rows.map((r) => r.created_at.getTime());
      expect(created).toEqual([...created].sort((x, y) => x - y));
      for (const r of rows) expect(r).toMatchObject({ state: 'running', attempts: 1 });
    }
    expect(a.every((r) => r.claimed_by === 'engine-a')).toBe(true);
    expect(await claimIn('engine-c', 4)).toEqual([]);
    const untouched = await t.db
      .selectFrom('operations')
      .selectAll()
      .where('id', '=', other.id)
      .executeTakeFirstOrThrow();
    expect(untouched.state).toBe('pending');
  });
});
