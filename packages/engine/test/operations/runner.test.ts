import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEvents, type Events } from '../../src/events';
import { createOperations, type OperationHandler, type Operations } from '../../src/operations';
import { createTestDb, type TestDb } from '../support/db';

const log = pino({ level: process.env.VIREO_TEST_LOG ?? 'silent' });
const LEASE_MS = 600;

/** A controllable handler: each run waits until released (or aborted), and is recorded. */
class Gate {
  runs: { id: string; holder: string; attempt: number }[] = [];
  private waiting: (() => void)[] = [];
  started = 0;
  open = false;
  handler(holderOf: () => string, resumable: boolean): OperationHandler {
    return {
      resumable,
      run: async ({ op, signal }) => {
        this.started++;
        this.runs.push({ id: op.id, holder: holderOf(), attempt: this.started });
        while (!this.open) {
          signal.throwIfAborted();
          await new Promise<void>((resolve) => {
            this.waiting.push(resolve);
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
        }
        return { ran_by: holderOf() };
      },
    };
  }
  release() {
    this.open = true;
    for (const w of this.waiting.splice(0)) w();
  }
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('operation runner (real PostgreSQL)', () => {
  let t: TestDb;
  let events: Events;
  const engines: Operations[] = [];

  beforeAll(async () => {
    t = await createTestDb();
    // Test-only operation types: inserted by the test, never by a migration.
    await t.db
      .insertInto('operation_types')
      .values([
        { name: 'test.gated', description: 'test: waits for a gate (resumable)' },
        { name: 'test.gated_once', description: 'test: waits for a gate (not resumable)' },
        { name: 'test.count', description: 'test: records which engine ran it' },
        { name: 'test.boom', description: 'test: fails' },
      ])
      .execute();
    events = createEvents({ db: t.db, pool: t.pool, log });
    await events.start();
  });

  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop();
    await t.db.deleteFrom('operations').execute();
  });

  afterAll(async () => {
    await events?.stop();
    await t?.drop();
  });

  /** One "engine": its own registry, runner and lease holder, sharing the database. */
  function engine(gates: { gated?: Gate; once?: Gate } = {}, counter?: string[]): Operations {
    const ops = createOperations({
      db: t.db,
      log,
      events,
      runner: { leaseMs: LEASE_MS, pollMs: 200, sweepIntervalMs: 100, stopGraceMs: 200 },
    });
    const holder = () => ops.runner.holder;
    ops.registry.register('test.gated', (gates.gated ?? new Gate()).handler(holder, true));
    ops.registry.register('test.gated_once', (gates.once ?? new Gate()).handler(holder, false));
    ops.registry.register('test.count', {
      resumable: true,
      run: async ({ op, progress }) => {
        counter?.push(`${op.id} ${holder()}`);
        await progress(0.5, 'half way');
        await sleep(30);
        return { holder: holder() };
      },
    });
    ops.registry.register('test.boom', {
      resumable: false,
      run: async () => {
        throw new Error('secret internal detail');
      },
    });
    engines.push(ops);
    return ops;
  }

  const create = (ops: Operations, type: string, input: Record<string, unknown> = {}) =>
    t.db.transaction().execute((trx) => ops.create(trx, { type, createdBy: null, input }));

  it('two engines on one database run each operation exactly once', async () => {
    const ran: string[] = [];
    const a = engine({}, ran);
    const b = engine({}, ran);
    a.start();
    b.start();
    const ids = await Promise.all(Array.from({ length: 12 }, () => create(a, 'test.count')));
    const finished = await Promise.all(ids.map((op) => a.wait(op.id, 15_000)));
    expect(finished.map((o) => o.state)).toEqual(Array(12).fill('succeeded'));
    expect(ran).toHaveLength(12);
    expect(new Set(ran.map((r) => r.split(' ')[0])).size).toBe(12);
    for (const op of finished) {
      expect(op.progress).toBe(1);
      expect(op.result?.holder).toMatch(/:/);
    }
    const starts = await t.db
      .selectFrom('events')
      .select(['operation_id'])
      .where('kind', '=', 'operation.started')
      .where(
        'operation_id',
        'in',
        ids.map((o) => o.id),
      )
      .execute();
    expect(starts).toHaveLength(12);
  });

  it('an engine that stops renewing loses a resumable operation to another, which runs it again', async () => {
    const gated = new Gate();
    const a = engine({ gated });
    a.start();
    const op = await create(a, 'test.gated');
    await until('engine A to start it', async () => gated.runs.length === 1);
    const b = engine({ gated });
    b.start();
    // B must not touch it while A's lease is alive.
    await sleep(LEASE_MS * 1.5);
    expect(gated.runs).toHaveLength(1);
    // "Kill" A: it stops renewing and writes nothing more, as after SIGKILL.
    await a.runner.abandon();
    await until('engine B to take it over', async () => gated.runs.length === 2);
    expect(gated.runs[1]!.holder).toBe(b.runner.holder);
    gated.release();
    const done = await b.wait(op.id, 10_000);
    expect(done.state).toBe('succeeded');
    expect(done.result).toEqual({ ran_by: b.runner.holder });
    const row = await t.db
      .selectFrom('operations')
      .select('attempts')
      .where('id', '=', op.id)
      .executeTakeFirstOrThrow();
    expect(row.attempts).toBe(2);
    const kinds = await t.db
      .selectFrom('events')
      .select('kind')
      .where('operation_id', '=', op.id)
      .orderBy('id')
      .execute();
    expect(kinds.map((k) => k.kind)).toEqual([
      'operation.created',
      'operation.started',
      'operation.resumed',
      'operation.started',
      'operation.succeeded',
    ]);
  });

  it('a non-resumable operation whose engine died fails with engine_restarted', async () => {
    const once = new Gate();
    const a = engine({ once });
    a.start();
    const op = await create(a, 'test.gated_once');
    await until('engine A to start it', async () => once.runs.length === 1);
    const b = engine({ once });
    b.start();
    await a.runner.abandon();
    const done = await b.wait(op.id, 10_000);
    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('engine_restarted');
    expect(done.error?.message).toMatch(/stopped before it finished/);
    expect(once.runs).toHaveLength(1);
  });

  it('cancels a pending operation at once and a running one through its signal', async () => {
    const gated = new Gate();
    const a = engine({ gated });
    // Not started yet: the operation stays pending.
    const pending = await create(a, 'test.gated');
    const cancelled = await a.cancel(pending.id, { userId: null });
    expect(cancelled.state).toBe('cancelled');
    await expect(a.cancel(pending.id, { userId: null })).rejects.toMatchObject({
      code: 'operation_finished',
      status: 409,
    });

    a.start();
    const op = await create(a, 'test.gated');
    await until('it to run', async () => gated.runs.some((r) => r.id === op.id));
    expect((await a.get(op.id)).state).toBe('running');
    const t0 = Date.now();
    const asked = await a.cancel(op.id, { userId: null });
    expect(asked.cancel_requested).toBe(true);
    const done = await a.wait(op.id, 10_000);
    expect(done.state).toBe('cancelled');
    // Promptly: the runner hears the request (NOTIFY, or at worst its next lease renewal).
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(gated.runs.filter((r) => r.id === op.id)).toHaveLength(1);
  });

  it('a failing handler fails the operation without leaking its internal message', async () => {
    const a = engine();
    a.start();
    const op = await create(a, 'test.boom');
    const done = await a.wait(op.id, 10_000);
    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('internal_error');
    expect(done.error?.message).not.toMatch(/secret/);
    expect(done.error?.message).toContain(op.id);
  });

  it('refuses an operation type that is not in the types table', async () => {
    const a = engine();
    await expect(create(a, 'test.not_registered')).rejects.toMatchObject({ code: 'operation_type_unknown' });
  });

  it('a graceful stop hands a resumable operation back to the queue', async () => {
    const gated = new Gate();
    const a = engine({ gated });
    a.start();
    const op = await create(a, 'test.gated');
    await until('it to run', async () => gated.runs.length === 1);
    await a.stop();
    engines.splice(engines.indexOf(a), 1);
    const row = await a.get(op.id);
    expect(row.state).toBe('pending');
    const b = engine({ gated });
    gated.release();
    b.start();
    expect((await b.wait(op.id, 10_000)).state).toBe('succeeded');
  });

  it('a long-poll wakes when another engine finishes the operation', async () => {
    const gated = new Gate();
    const a = engine({ gated });
    const b = engine({ gated });
    b.start(); // only B runs operations; A merely waits
    a.start();
    await a.runner.stop();
    const op = await create(a, 'test.gated');
    await until('B to run it', async () => gated.runs.length === 1);
    const waiting = a.wait(op.id, 20_000);
    await sleep(100);
    const t0 = Date.now();
    gated.release();
    const done = await waiting;
    expect(done.state).toBe('succeeded');
    // Only a NOTIFY can wake A before its 20 s deadline (A runs nothing and does not poll).
    expect(Date.now() - t0).toBeLessThan(5000);
    // A short wait on a running operation returns it unfinished after about that long.
    const other = await create(a, 'test.gated_once');
    gated.open = false;
    const w0 = Date.now();
    const still = await a.wait(other.id, 300);
    expect(Date.now() - w0).toBeGreaterThanOrEqual(290);
    expect(['pending', 'running', 'succeeded']).toContain(still.state);
  });
});
