import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationHandler } from '../../src/operations';
import { createOpsApp, type OpsApp, until } from './support';

/** A test-only handler: reports progress, then waits until released or cancelled. */
function gatedHandler(gate: { open: boolean; runs: number }): OperationHandler {
  return {
    resumable: false,
    async run({ signal, progress, op }) {
      gate.runs++;
      await progress(0.25, 'a quarter done');
      while (!gate.open) {
        signal.throwIfAborted();
        await sleep(10);
      }
      return { echo: op.input.value ?? null };
    },
  };
}

describe('operations over HTTP (real PostgreSQL)', () => {
  let s: OpsApp;
  const gate = { open: false, runs: 0 };

  beforeAll(async () => {
    s = await createOpsApp({
      // test.idle has no handler: its operations stay pending.
      types: ['test.gated', 'test.idle'],
      register: (ops) => ops.registry.register('test.gated', gatedHandler(gate)),
    });
  });
  afterAll(async () => s?.close());

  const create = (type: string, input: Record<string, unknown> = {}, target?: { kind: string; id: string }) =>
    s.t.db
      .transaction()
      .execute((trx) => s.operations.create(trx, { type, createdBy: null, input, target: target ?? null }));
  const get = (url: string) => s.app.inject({ method: 'GET', url, headers: s.auth() });

  it('follows an operation: running with progress, ?wait wakes when it finishes', async () => {
    gate.open = false;
    const op = await create('test.gated', { value: 42 });
    await until('it to run with progress', async () => {
      const r = (await get(`/api/v1/operations/${op.id}`)).json();
      return r.state === 'running' && r.progress === 0.25 && r;
    });
    const running = (await get(`/api/v1/operations/${op.id}`)).json();
    expect(running).toMatchObject({
      progress_message: 'a quarter done',
      target: null,
      cancel_requested: false,
    });
    expect(running.started_at).toEqual(expect.any(String));

    // A short wait on an unfinished operation answers after about that long, still running.
    const t0 = Date.now();
    const short = await get(`/api/v1/operations/${op.id}?wait=1`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(short.json().state).toBe('running');

    const waiting = get(`/api/v1/operations/${op.id}?wait=30`);
    await sleep(200);
    const released = Date.now();
    gate.open = true;
    const done = await waiting;
    expect(Date.now() - released).toBeLessThan(5000);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ state: 'succeeded', progress: 1, result: { echo: 42 }, error: null });
    expect(done.json().finished_at).toEqual(expect.any(String));
  });

  it('cancels a pending operation at once, a running one via 202, and refuses a finished one', async () => {
    const pending = await create('test.idle');
    const del = await s.app.inject({
      method: 'DELETE',
      url: `/api/v1/operations/${pending.id}`,
      headers: s.auth(),
    });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toMatchObject({ id: pending.id, state: 'cancelled' });

    const again = await s.app.inject({
      method: 'DELETE',
      url: `/api/v1/operations/${pending.id}`,
      headers: s.auth(),
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('operation_finished');

    gate.open = false;
    const op = await create('test.gated');
    await until('it to run', async () => (await s.operations.get(op.id)).state === 'running');
    const cancel = await s.app.inject({
      method: 'DELETE',
      url: `/api/v1/operations/${op.id}`,
      headers: s.auth(),
    });
    expect(cancel.statusCode).toBe(202);
    expect(cancel.headers.location).toBe(`/api/v1/operations/${op.id}`);
    expect(cancel.json().operation).toMatchObject({ state: 'running', cancel_requested: true });
    const final = (await get(`/api/v1/operations/${op.id}?wait=10`)).json();
    expect(final.state).toBe('cancelled');

    const audit = await s.t.db
      .selectFrom('events')
      .select(['kind', 'username'])
      .where('operation_id', '=', op.id)
      .orderBy('id')
      .execute();
    expect(audit.map((e) => e.kind)).toEqual([
      'operation.created',
      'operation.started',
      'operation.cancel_requested',
      'operation.cancelled',
    ]);
    expect(audit[2]!.username).toBe('admin@internal');
  });

  it('lists operations newest first with filters and cursor pagination', async () => {
    const target = { kind: 'datacenter', id: '7d1f5a52-8a34-4b8e-9a55-0d7a1c6b2f10' };
    const mine = [
      await create('test.idle', {}, target),
      await create('test.idle', {}, target),
      await create('test.idle', {}, target),
    ];
    const first = await get(`/api/v1/operations?target_id=${target.id}&limit=2`);
    expect(first.statusCode).toBe(200);
    const p1 = first.json();
    expect(p1.items.map((o: { id: string }) => o.id)).toEqual([mine[2]!.id, mine[1]!.id]);
    expect(p1.items[0].target).toEqual(target);
    const p2 = (
      await get(`/api/v1/operations?target_id=${target.id}&limit=2&cursor=${p1.next_cursor}`)
    ).json();
    expect(p2.items.map((o: { id: string }) => o.id)).toEqual([mine[0]!.id]);
    expect(p2.next_cursor).toBeNull();

    const pendingIdle = (await get('/api/v1/operations?state=pending&type=test.idle&limit=500')).json();
    expect(pendingIdle.items.length).toBeGreaterThanOrEqual(3);
    expect(
      pendingIdle.items.every(
        (o: { state: string; type: string }) => o.state === 'pending' && o.type === 'test.idle',
      ),
    ).toBe(true);
    const succeeded = (await get('/api/v1/operations?state=succeeded')).json();
    expect(succeeded.items.every((o: { state: string }) => o.state === 'succeeded')).toBe(true);
    const oldestFirst = (await get(`/api/v1/operations?target_id=${target.id}&sort=created_at`)).json();
    expect(oldestFirst.items.map((o: { id: string }) => o.id)).toEqual(mine.map((o) => o.id));
  });

  it('answers bad requests with coded 4xx errors', async () => {
    const cases: [string, string, number, string][] = [
      ['GET', '/api/v1/operations/7d1f5a52-8a34-4b8e-9a55-0d7a1c6b2f10', 404, 'operation_not_found'],
      ['DELETE', '/api/v1/operations/7d1f5a52-8a34-4b8e-9a55-0d7a1c6b2f10', 404, 'operation_not_found'],
      ['GET', '/api/v1/operations/not-a-uuid', 400, 'invalid_input'],
      ['GET', '/api/v1/operations/7d1f5a52-8a34-4b8e-9a55-0d7a1c6b2f10?wait=61', 400, 'invalid_input'],
      ['GET', '/api/v1/operations/7d1f5a52-8a34-4b8e-9a55-0d7a1c6b2f10?wait=-1', 400, 'invalid_input'],
      ['GET', '/api/v1/operations?state=exploded', 400, 'invalid_input'],
      ['GET', '/api/v1/operations?target_id=nope', 400, 'invalid_input'],
      ['GET', '/api/v1/operations?cursor=%%%', 400, 'invalid_cursor'],
      ['GET', '/api/v1/operations?cursor=abc', 400, 'invalid_cursor'],
      ['GET', '/api/v1/operations?sort=type', 400, 'invalid_sort'],
      ['GET', '/api/v1/operations?bogus=1', 400, 'invalid_input'],
    ];
    for (const [method, url, status, code] of cases) {
      const r = await s.app.inject({ method: method as 'GET', url, headers: s.auth() });
      expect({ url, status: r.statusCode, code: r.json().error?.code }).toEqual({ url, status, code });
    }
    const anon = await s.app.inject({ method: 'GET', url: '/api/v1/operations' });
    expect(anon.statusCode).toBe(401);
  });

  it('a long poll ends when the client goes away (nothing left waiting)', async () => {
    const op = await create('test.idle');
    const base = await s.listen();
    const ac = new AbortController();
    const poll = fetch(`${base}/api/v1/operations/${op.id}?wait=30`, {
      headers: s.auth(),
      signal: ac.signal,
    }).catch((e: Error) => e);
    await until('the long poll to be waiting', () => s.operations.waiterCount === 1);
    ac.abort();
    await poll;
    await until('the waiter to be released', () => s.operations.waiterCount === 0, 2000);
  });
});
