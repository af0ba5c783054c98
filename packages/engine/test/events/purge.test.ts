import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsApp, type OpsApp, until } from '../operations/support';

const DAY = 24 * 60 * 60 * 1000;

describe('events.purge end to end (real PostgreSQL)', () => {
  let s: OpsApp;
  beforeAll(async () => {
    s = await createOpsApp({ purgeBatchSize: 100 });
  });
  afterAll(async () => s?.close());

  /** Old events written straight into the table (the audit API always stamps "now"). */
  async function oldEvents(n: number, ageDays: number): Promise<void> {
    await sql`
      INSERT INTO events (time, kind, severity, message)
      SELECT now() - make_interval(days => ${ageDays}) + g * interval '1 millisecond', 'test.old', 'info', 'old ' || g
        FROM generate_series(1, ${n}) AS g`.execute(s.t.db);
  }
  const countOld = async () =>
    Number(
      (
        await s.t.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('kind', '=', 'test.old')
          .executeTakeFirstOrThrow()
      ).n,
    );
  const purge = (before: string) =>
    s.app.inject({ method: 'POST', url: '/api/v1/events/purge', headers: s.auth(), payload: { before } });

  it('deletes events older than `before` in batches and keeps the rest', async () => {
    await oldEvents(350, 10);
    await oldEvents(20, 2);
    const recent = await s.record({ kind: 'test.recent' });
    const res = await purge(new Date(Date.now() - 5 * DAY).toISOString());
    expect(res.statusCode).toBe(202);
    const { operation } = res.json();
    expect(res.headers.location).toBe(`/api/v1/operations/${operation.id}`);
    expect(operation).toMatchObject({ type: 'events.purge', state: 'pending', target: null });

    const done = await s.app.inject({
      method: 'GET',
      url: `${res.headers.location}?wait=20`,
      headers: s.auth(),
    });
    expect(done.json()).toMatchObject({ state: 'succeeded', progress: 1, result: { deleted: 350 } });
    expect(await countOld()).toBe(20);
    const kept = await s.t.db.selectFrom('events').select('id').where('id', '=', recent).executeTakeFirst();
    expect(kept).toBeDefined();
    const purged = await s.t.db
      .selectFrom('events')
      .select(['message', 'severity', 'username', 'user_id'])
      .where('kind', '=', 'events.purged')
      .where('operation_id', '=', operation.id)
      .executeTakeFirstOrThrow();
    expect(purged.message).toMatch(/^Deleted 350 audit events older than /);
    expect(purged.severity).toBe('audit');
    expect(purged.user_id).toEqual(expect.any(String));
    // Only the id was given: the name is looked up so the log says who.
    expect(purged.username).toBe('admin@internal');
  });

  it('is cancelled between batches', async () => {
    await s.t.db.deleteFrom('events').where('kind', '=', 'test.old').execute();
    await oldEvents(1000, 10);
    // Hold a row of the third batch: the purge blocks there until we let go.
    const third = await s.t.db
      .selectFrom('events')
      .select('id')
      .where('kind', '=', 'test.old')
      .orderBy('id')
      .offset(250)
      .limit(1)
      .executeTakeFirstOrThrow();
    const locker = await s.t.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM events WHERE id = $1 FOR UPDATE', [third.id]);
      const res = await purge(new Date(Date.now() - 5 * DAY).toISOString());
      const id = res.json().operation.id;
      await until('two batches to be deleted', async () => (await countOld()) === 800);
      const cancel = await s.app.inject({
        method: 'DELETE',
        url: `/api/v1/operations/${id}`,
        headers: s.auth(),
      });
      expect(cancel.statusCode).toBe(202);
      await locker.query('COMMIT');
      const done = await s.app.inject({
        method: 'GET',
        url: `/api/v1/operations/${id}?wait=20`,
        headers: s.auth(),
      });
      expect(done.json()).toMatchObject({ state: 'cancelled' });
      expect(done.json().progress).toBeGreaterThan(0);
      expect(done.json().progress).toBeLessThan(1);
      // The batch in flight finished; nothing after it ran.
      expect(await countOld()).toBe(700);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      locker.release();
    }
  });

  it('refuses a cut-off within the last 24 hours, or not a time', async () => {
    const recent = await purge(new Date(Date.now() - DAY + 60_000).toISOString());
    expect(recent.statusCode).toBe(400);
    expect(recent.json().error.code).toBe('purge_before_too_recent');
    const future = await purge('2999-01-01T00:00:00Z');
    expect(future.json().error.code).toBe('purge_before_too_recent');
    const junk = await purge('yesterday');
    expect(junk.statusCode).toBe(400);
    expect(junk.json().error.code).toBe('invalid_input');
    const extra = await s.app.inject({
      method: 'POST',
      url: '/api/v1/events/purge',
      headers: s.auth(),
      payload: { before: '2000-01-01T00:00:00Z', everything: true },
    });
    expect(extra.statusCode).toBe(400);
    const anon = await s.app.inject({
      method: 'POST',
      url: '/api/v1/events/purge',
      payload: { before: '2000-01-01T00:00:00Z' },
    });
    expect(anon.statusCode).toBe(401);
  });
});
