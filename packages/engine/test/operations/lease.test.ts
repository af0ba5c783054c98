import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeasedJob, runLeased } from '../../src/controllers/lease';
import { createTestDb, type TestDb } from '../support/db';
import { until } from './support';

describe('runLeased: periodic jobs leased in the database', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => t?.drop());

  it('runs a job in one engine at a time and hands it over on stop and on crash', async () => {
    const runs: string[] = [];
    let inside = 0;
    let overlap = false;
    const job = (who: string) => async () => {
      inside++;
      if (inside > 1) overlap = true;
      runs.push(who);
      await new Promise((r) => setTimeout(r, 20));
      inside--;
    };
    const opts = { leaseMs: 400 };
    const jobs: LeasedJob[] = [];
    try {
      const a = runLeased(t.db, 'test.job', 50, job('a'), { ...opts, holder: 'engine-a' });
      jobs.push(a);
      await until('a to run', () => runs.length >= 1);
      const b = runLeased(t.db, 'test.job', 50, job('b'), { ...opts, holder: 'engine-b' });
      jobs.push(b);
      await new Promise((r) => setTimeout(r, 500));
      expect(runs.length).toBeGreaterThanOrEqual(4);
      expect(runs.every((w) => w === 'a')).toBe(true);
      expect(b.holding).toBe(false);

      // A clean stop hands the lease back: b takes over at its next attempt.
      await a.stop();
      const handover = runs.length;
      await until('b to take over', () => runs.slice(handover).includes('b'), 2000);
      expect(runs.slice(handover).every((w) => w === 'b')).toBe(true);

      // A crash (no release) leaves the lease to expire; c waits for that, then takes over.
      const c = runLeased(t.db, 'test.job', 50, job('c'), { ...opts, holder: 'engine-c' });
      jobs.push(c);
      await b.stop({ release: false });
      const crashedAt = Date.now();
      await until('c to take over', () => runs.includes('c'), 3000);
      expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(300);
      expect(overlap).toBe(false);
      const row = await t.db
        .selectFrom('job_leases')
        .selectAll()
        .where('name', '=', 'test.job')
        .executeTakeFirstOrThrow();
      expect(row.holder).toBe('engine-c');
    } finally {
      for (const j of jobs) await j.stop();
    }
  });

  it('aborts a long run whose lease was taken away', async () => {
    let aborted = false;
    const job = runLeased(
      t.db,
      'test.long',
      10_000,
      (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
      { leaseMs: 300, holder: 'engine-long' },
    );
    try {
      await until('it to hold the lease', () => job.holding);
      // Another engine steals it (as if this one had hung past its lease).
      await t.db
        .updateTable('job_leases')
        .set({ holder: 'engine-thief' })
        .where('name', '=', 'test.long')
        .execute();
      await until('the run to be aborted', () => aborted, 2000);
    } finally {
      await job.stop();
    }
  });
});
