import type { Operation } from '@vireo/api';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentHub } from '../../src/agents/types';
import { findHost, insertHost, updateHost } from '../../src/db/repositories/hosts';
import { hostMaintenanceHandler } from '../../src/monitors/maintenance';
import type { AuditEntry } from '../../src/services/ports';
import { createTestDb, type TestDb } from '../support/db';

/** An agent hub stand-in: only `vm.list` and `isConnected`, which is all the handler uses. */
function fakeHub(state: { connected: boolean; running: number; calls: number }): AgentHub {
  const hub = {
    isConnected: () => state.connected,
    hello: () => undefined,
    async call(_hostId: string, method: string) {
      if (method !== 'vm.list') throw new Error(`unexpected ${method}`);
      state.calls++;
      const vms = Array.from({ length: state.running }, (_, i) => ({ vm_id: `vm-${i}`, state: 'up' }));
      return { vms: [...vms, { vm_id: 'stopped', state: 'down' }], external: [] };
    },
    on: () => hub,
    off: () => hub,
  };
  return hub as unknown as AgentHub;
}

describe('host.maintenance operation handler (real PostgreSQL, fake agent hub)', () => {
  let t: TestDb;
  let clusterId: string;
  const audit: AuditEntry[] = [];
  const recorder = { record: async (_ex: unknown, e: AuditEntry) => void audit.push(e) };

  beforeAll(async () => {
    t = await createTestDb();
    clusterId = (await t.db.selectFrom('clusters').select('id').executeTakeFirstOrThrow()).id;
  });
  afterAll(() => t?.drop());

  const newHost = async (name: string) => {
    const h = await insertHost(t.db, {
      name,
      address: '127.0.0.1',
      cluster_id: clusterId,
      agent_port: 54321,
      state: 'preparing_maintenance',
    });
    return h.id;
  };
  const run = (hostId: string, hub: AgentHub, signal = new AbortController().signal) =>
    hostMaintenanceHandler({ db: t.db, agents: hub, audit: recorder, pollMs: 20 }).run({
      op: { id: '00000000-0000-4000-8000-000000000001', target: { kind: 'host', id: hostId } } as Operation,
      signal,
      progress: async () => {},
      log: pino({ level: 'silent' }),
    });

  it('waits while the agent runs VMs, then puts the host in maintenance (audited)', async () => {
    const id = await newHost('busy');
    const s = { connected: true, running: 2, calls: 0 };
    const result = run(id, fakeHub(s));
    while (s.calls < 3) await new Promise((r) => setTimeout(r, 10));
    expect((await findHost(t.db, id))?.state).toBe('preparing_maintenance');
    s.running = 0;
    expect(await result).toEqual({ state: 'maintenance', vms_checked: true });
    expect((await findHost(t.db, id))?.state).toBe('maintenance');
    expect(audit.at(-1)).toMatchObject({ kind: 'host.state_changed', details: { to: 'maintenance' } });
  });

  it('an unreachable host goes to maintenance without the VM check; a rerun is idempotent', async () => {
    const id = await newHost('gone');
    const hub = fakeHub({ connected: false, running: 5, calls: 0 });
    expect(await run(id, hub)).toEqual({ state: 'maintenance', vms_checked: false });
    expect(await run(id, hub)).toEqual({ state: 'maintenance' });
  });

  it('fails with host_not_in_maintenance when the host is activated meanwhile', async () => {
    const id = await newHost('changed-mind');
    const s = { connected: true, running: 1, calls: 0 };
    const result = run(id, fakeHub(s));
    while (s.calls < 1) await new Promise((r) => setTimeout(r, 10));
    await updateHost(t.db, id, { state: 'up' });
    await expect(result).rejects.toMatchObject({ code: 'host_not_in_maintenance' });
  });

  it('stops waiting when cancelled', async () => {
    const id = await newHost('cancelled');
    const ac = new AbortController();
    const s = { connected: true, running: 1, calls: 0 };
    const result = run(id, fakeHub(s), ac.signal);
    while (s.calls < 1) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await expect(result).rejects.toThrow();
    expect((await findHost(t.db, id))?.state).toBe('preparing_maintenance');
  });
});
