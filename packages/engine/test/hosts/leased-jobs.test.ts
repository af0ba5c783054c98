import { EventEmitter } from 'node:events';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentHubEvents } from '../../src/agents/types';
import { findHost, insertHost } from '../../src/db/repositories/hosts';
import { DEPLOY_SWEEP_JOB, HOST_DEPLOY, startDeploySweeper } from '../../src/hosts/deploy-operation';
import { HEARTBEAT_JOB, HostMonitor, type MonitoredHub } from '../../src/monitors/host-monitor';
import type { AuditEntry } from '../../src/services/ports';
import { until } from '../operations/support';
import { createTestDb, type TestDb } from '../support/db';

/**
 * One simulated engine's view of the agents: always connected, answers capabilities and stats and
 * counts the heartbeats (`host.stats`) it was asked to send.
 */
class CountingHub extends EventEmitter<AgentHubEvents> {
  stats = 0;
  isConnected(): boolean {
    return true;
  }
  async call(_hostId: string, method: string): Promise<unknown> {
    if (method === 'host.stats') {
      this.stats++;
      return { cpu_percent: 1 };
    }
    if (method === 'host.capabilities') return { cpus: 2 };
    throw new Error(`unexpected ${method}`);
  }
  reconnect(): void {}
  add(): void {}
  remove(): void {}
  async close(): Promise<void> {}
  asHub(): MonitoredHub {
    return this as unknown as MonitoredHub;
  }
}

describe('periodic host jobs are leased: two engines on one database do not both act', () => {
  let t: TestDb;
  let clusterId: string;
  const audit: AuditEntry[] = [];
  const recorder = { record: async (_ex: unknown, e: AuditEntry) => void audit.push(e) };
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    t = await createTestDb();
    clusterId = (await t.db.selectFrom('clusters').select('id').executeTakeFirstOrThrow()).id;
  });
  afterAll(() => t?.drop());

  it('only the heartbeat lease holder polls hosts; the other takes over when it stops', async () => {
    const host = await insertHost(t.db, {
      name: 'leased-hb',
      address: '127.0.0.1',
      cluster_id: clusterId,
      agent_port: 54321,
      state: 'connecting',
    });
    const settings = { heartbeatIntervalMs: 60, heartbeatTimeoutMs: 5000, graceMs: 60_000 };
    const hubA = new CountingHub();
    const hubB = new CountingHub();
    const a = new HostMonitor({ db: t.db, hub: hubA.asHub(), audit: recorder, log }, settings, 'engine-a');
    const b = new HostMonitor({ db: t.db, hub: hubB.asHub(), audit: recorder, log }, settings, 'engine-b');
    const monitors = [a, b];
    try {
      await a.start();
      hubA.emit('connected', host.id, {} as never);
      await until('engine a to heartbeat', () => hubA.stats >= 2, 10_000);
      await b.start();
      hubB.emit('connected', host.id, {} as never);
      await until('host up', async () => (await findHost(t.db, host.id))?.state === 'up', 10_000);
      const fromA = hubA.stats;
      await until('engine a to go on heartbeating', () => hubA.stats >= fromA + 5, 10_000);
      expect(hubB.stats).toBe(0);
      expect(a.leading).toBe(true);
      expect(b.leading).toBe(false);

      // A clean stop hands the lease back: b's next pass takes it.
      await a.stop();
      monitors.shift();
      const stoppedAt = hubA.stats;
      await until('engine b to take over', () => hubB.stats >= 3, 10_000);
      expect(hubA.stats).toBe(stoppedAt);
      expect(b.leading).toBe(true);
      const lease = await t.db
        .selectFrom('job_leases')
        .select('holder')
        .where('name', '=', HEARTBEAT_JOB)
        .executeTakeFirstOrThrow();
      expect(lease.holder).toBe('engine-b');
      // One `up` transition, whichever engine wrote it; heartbeats never flapped the state.
      const ups = audit.filter((e) => e.kind === 'host.state_changed' && e.object?.id === host.id);
      expect(ups.map((e) => (e.details as { to: string }).to)).toEqual(['up']);
    } finally {
      for (const m of monitors) await m.stop();
    }
  });

  it('only one engine sweeps interrupted deploys; the host becomes install_failed once', async () => {
    const host = await insertHost(t.db, {
      name: 'leased-deploy',
      address: '127.0.0.2',
      cluster_id: clusterId,
      agent_port: 54321,
      state: 'installing',
    });
    // The deploy operation ended (its engine died) but the host was left installing.
    await sql`
      INSERT INTO operations (type, state, target_kind, target_id, finished_at, error)
      VALUES (${HOST_DEPLOY}, 'failed', 'host', ${host.id}, now(),
              ${JSON.stringify({ code: 'engine_restarted', message: 'restarted' })}::jsonb)`.execute(t.db);
    const a = startDeploySweeper({ db: t.db, audit: recorder, log }, 50, { holder: 'engine-a' });
    const jobs = [a];
    try {
      await until('a to hold the sweep', () => a.holding, 10_000);
      const b = startDeploySweeper({ db: t.db, audit: recorder, log }, 50, { holder: 'engine-b' });
      jobs.push(b);
      await until(
        'host install_failed',
        async () => (await findHost(t.db, host.id))?.state === 'install_failed',
      );
      // b tried (its first attempt runs at start) and several more times, and never held it.
      expect(await b.runNow()).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      expect(b.holding).toBe(false);
      expect(a.holding).toBe(true);
      const lease = await t.db
        .selectFrom('job_leases')
        .select(['holder', 'last_started_at'])
        .where('name', '=', DEPLOY_SWEEP_JOB)
        .executeTakeFirstOrThrow();
      expect(lease.holder).toBe('engine-a');
      const failed = audit.filter((e) => e.object?.id === host.id);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.details).toMatchObject({ from: 'installing', to: 'install_failed' });
    } finally {
      for (const j of jobs) await j.stop();
    }
  });
});
