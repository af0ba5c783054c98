import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsApp, type OpsApp } from '../operations/support';

describe('GET /events (real PostgreSQL)', () => {
  let s: OpsApp;
  const obj = '3c0f7a0e-2b7c-4f0e-8d3e-6a1b2c3d4e5f';
  const recorded: Record<string, number> = {};
  let startedAt: string;

  beforeAll(async () => {
    s = await createOpsApp();
    await s.record({ kind: 'test.early' });
    await new Promise((r) => setTimeout(r, 20));
    startedAt = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    recorded.vmStarted = await s.record({
      kind: 'test.vm.started',
      object: { kind: 'vm', id: obj, name: 'web1' },
    });
    recorded.vmFailed = await s.record({
      kind: 'test.vm.failed',
      severity: 'error',
      object: { kind: 'vm', id: obj },
    });
    recorded.host = await s.record({ kind: 'test.host.up', severity: 'warning' });
    recorded.login = await s.record({
      kind: 'test.user.login_failed',
      severity: 'audit',
      username: 'mallory@internal',
      details: { address: '10.0.0.9' },
      message: 'Login of mallory@internal failed',
    });
  });
  afterAll(async () => s?.close());

  const list = async (query: string) => {
    const r = await s.app.inject({ method: 'GET', url: `/api/v1/events?${query}`, headers: s.auth() });
    return { status: r.statusCode, body: r.json() };
  };
  const idsOf = (body: { items: { id: string }[] }) => body.items.map((e) => Number(e.id));

  it('lists newest first and pages with a cursor', async () => {
    const p1 = await list('kind=test.&limit=3');
    expect(p1.status).toBe(200);
    expect(idsOf(p1.body)).toEqual([recorded.login, recorded.host, recorded.vmFailed]);
    const p2 = await list(`kind=test.&limit=3&cursor=${p1.body.next_cursor}`);
    expect(idsOf(p2.body)).toEqual([recorded.vmStarted, idsOf(p2.body)[1]]);
    expect(p2.body.items[1].kind).toBe('test.early');
    expect(p2.body.next_cursor).toBeNull();
    const asc = await list('kind=test.&sort=id&limit=2');
    expect(asc.body.items[0].kind).toBe('test.early');
    // A cursor is only good for the sort it was made for.
    const mixed = await list(`kind=test.&sort=id&cursor=${p1.body.next_cursor}`);
    expect(mixed.status).toBe(400);
    expect(mixed.body.error.code).toBe('invalid_cursor');
  });

  it('filters by kind prefix (repeatable), severity, object, time, id and text', async () => {
    expect(idsOf((await list('kind=test.vm.')).body)).toEqual([recorded.vmFailed, recorded.vmStarted]);
    expect(idsOf((await list('kind=test.vm.started&kind=test.host.')).body)).toEqual([
      recorded.host,
      recorded.vmStarted,
    ]);
    expect(idsOf((await list('kind=test.&severity=error')).body)).toEqual([recorded.vmFailed]);
    expect(idsOf((await list(`object_id=${obj}`)).body)).toEqual([recorded.vmFailed, recorded.vmStarted]);
    expect(idsOf((await list(`kind=test.&since=${encodeURIComponent(startedAt)}`)).body)).toHaveLength(4);
    expect(idsOf((await list(`kind=test.&after_id=${recorded.host}`)).body)).toEqual([recorded.login]);
    expect(idsOf((await list('search=MALLORY')).body)).toEqual([recorded.login]);
    // LIKE wildcards in the prefix match literally.
    expect((await list('kind=test_')).body.items).toHaveLength(0);
    const login = (await list('kind=test.user.')).body.items[0];
    expect(login).toMatchObject({
      kind: 'test.user.login_failed',
      severity: 'audit',
      username: 'mallory@internal',
      details: { address: '10.0.0.9' },
      message: 'Login of mallory@internal failed',
      object_id: null,
    });
    expect(Number.isNaN(Date.parse(login.time))).toBe(false);
  });

  it('answers bad filters with coded 400s and needs a token', async () => {
    for (const q of [
      'severity=fatal',
      'object_id=xyz',
      'since=yesterday',
      'after_id=-1',
      'kind=VM',
      'limit=0',
      'nope=1',
    ]) {
      const r = await list(q);
      expect({ q, status: r.status, code: r.body.error?.code }).toEqual({
        q,
        status: 400,
        code: 'invalid_input',
      });
    }
    const sort = await list('sort=kind');
    expect(sort.body.error.code).toBe('invalid_sort');
    const cursor = await list('cursor=bm9wZQ');
    expect(cursor.body.error.code).toBe('invalid_cursor');
    const anon = await s.app.inject({ method: 'GET', url: '/api/v1/events' });
    expect(anon.statusCode).toBe(401);
  });

  it('is only shown to users allowed to read events', async () => {
    const { hashPassword } = await import('../../src/auth/passwords');
    const { upsertUserPassword } = await import('../../src/db/repositories/users');
    await upsertUserPassword(s.t.db, {
      name: 'viewer',
      domain: 'internal',
      isAdmin: false,
      passwordHash: await hashPassword('viewer-password-1'),
    });
    const login = await s.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'viewer@internal', password: 'viewer-password-1' },
    });
    const token = login.json().token as string;
    const r = await s.app.inject({
      method: 'GET',
      url: '/api/v1/events',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.statusCode).toBe(403);
    const ops = await s.app.inject({
      method: 'GET',
      url: '/api/v1/operations',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ops.statusCode).toBe(403);
  });
});
