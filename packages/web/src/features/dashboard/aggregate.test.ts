import { describe, expect, it } from 'vitest';
import { alerts, capacity, countByState, type HostLike, type OperationLike, percentOf } from './aggregate';

const host = (id: string, state: string, cpus: number, total: number, used: number): HostLike => ({
  id,
  name: `host-${id}`,
  state,
  state_reason: state === 'up' ? '' : 'heartbeat failed',
  capabilities: { cpu: { logical_cpus: cpus }, memory_total_bytes: total },
  stats: { memory: { total_bytes: total, used_bytes: used } },
});

describe('countByState', () => {
  it('lists known states in order (zeros included), then unexpected ones', () => {
    const items = [{ state: 'down' }, { state: 'up' }, { state: 'up' }, { state: 'weird' }];
    expect(countByState(items, ['up', 'down', 'paused'])).toEqual([
      { state: 'up', count: 2 },
      { state: 'down', count: 1 },
      { state: 'paused', count: 0 },
      { state: 'weird', count: 1 },
    ]);
  });
});

describe('capacity', () => {
  it('counts only up hosts, vCPUs of running VMs, and domains that report sizes', () => {
    const hosts = [
      host('a', 'up', 4, 8e9, 2e9),
      host('b', 'up', 2, 4e9, 1e9),
      host('c', 'non_responsive', 64, 1e12, 0),
    ];
    const vms = [
      { id: '1', state: 'up', cpus: 2, memory_mib: 512 },
      { id: '2', state: 'paused', cpus: 1, memory_mib: 512 },
      { id: '3', state: 'down', cpus: 8, memory_mib: 512 },
    ];
    const domains = [
      { id: 'd1', name: 'data', state: 'active', total_bytes: 100e9, free_bytes: 60e9 },
      { id: 'd2', name: 'new', state: 'unattached', total_bytes: null, free_bytes: null },
    ];
    const c = capacity(hosts, vms, domains);
    expect(c.cpu).toEqual({ used: 3, total: 6 });
    expect(c.memory).toEqual({ used: 3e9, total: 12e9 });
    expect(c.storage).toEqual({ used: 40e9, total: 100e9 });
    expect(percentOf(c.cpu)).toBe(50);
    expect(percentOf(c.memory)).toBe(25);
  });

  it('falls back to the capabilities memory size before the first stats, and has no percent without totals', () => {
    const h = { ...host('a', 'up', 2, 16e9, 0), stats: null };
    expect(capacity([h], [], []).memory).toEqual({ used: 0, total: 16e9 });
    expect(percentOf({ used: 0, total: 0 })).toBeNull();
  });
});

describe('alerts', () => {
  const now = Date.parse('2026-05-02T12:00:00Z');
  const op = (id: string, state: string, finished: string): OperationLike => ({
    id,
    type: 'vm.start',
    state,
    target: { kind: 'vm', id: `vm-${id}` },
    error: { code: 'agent_timeout', message: 'the agent did not answer' },
    finished_at: finished,
    created_at: finished,
  });

  it('raises non-responsive hosts, inactive domains and failed operations of the last day, worst first', () => {
    const list = alerts(
      [host('a', 'up', 1, 1, 0), host('b', 'connecting', 1, 1, 0), host('c', 'non_responsive', 1, 1, 0)],
      [
        op('1', 'failed', '2026-05-02T11:00:00Z'),
        op('2', 'failed', '2026-04-30T11:00:00Z'),
        op('3', 'succeeded', '2026-05-02T11:00:00Z'),
      ],
      [
        { id: 'd1', name: 'nfs1', state: 'inactive', total_bytes: null, free_bytes: null },
        { id: 'd2', name: 'ok', state: 'active', total_bytes: null, free_bytes: null },
      ],
      now,
    );
    expect(list.map((a) => [a.severity, a.messageId, a.link])).toEqual([
      ['danger', 'dashboard.alert.host.non_responsive', '/hosts/c'],
      ['danger', 'dashboard.alert.operation.failed', '/vms/vm-1'],
      ['warning', 'dashboard.alert.host.connecting', '/hosts/b'],
      ['warning', 'dashboard.alert.domain.inactive', '/storage/domains/d1'],
    ]);
    expect(list[0]?.values).toEqual({ name: 'host-c', reason: 'heartbeat failed' });
    expect(list[1]?.values).toEqual({ type: 'vm.start', message: 'the agent did not answer' });
  });

  it('has nothing to say about a healthy installation', () => {
    expect(alerts([host('a', 'up', 1, 1, 0)], [], [], now)).toEqual([]);
  });
});
