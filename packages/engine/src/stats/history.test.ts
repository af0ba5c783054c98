import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { StatsHistory, statsHistorySettingsFromEnv } from './history';

const HOST = 'h1';
const VM = '11111111-2222-4333-8444-555555555555';
const log = pino({ level: 'silent' });

function hostStats(percent: number) {
  return {
    at: new Date().toISOString(),
    cpu: {
      percent,
      user_percent: percent,
      system_percent: 0,
      iowait_percent: 0,
      steal_percent: 0,
      interval_s: 5,
      logical_cpus: 2,
    },
    memory: {
      total_bytes: 1000,
      available_bytes: 600,
      used_bytes: 400,
      free_bytes: 500,
      swap_total_bytes: 0,
      swap_free_bytes: 0,
    },
    load: { one: 0, five: 0, fifteen: 0 },
    uptime_s: 10,
  };
}

function vmStats(agentAtMs: number, cpuMs: number) {
  return {
    at: new Date(agentAtMs).toISOString(),
    vms: [{ vm_id: VM, cpu_time_ms: cpuMs, rss_bytes: 4096, block: [], nics: [] }],
  };
}

describe('StatsHistory', () => {
  it('keeps host points in order and answers ?since strictly after', () => {
    let now = 1_000_000;
    const h = new StatsHistory(log, { retentionMs: 60_000, maxSamples: 100 }, () => now);
    for (const p of [10, 20, 30]) {
      h.onAgentEvent(HOST, 'host.stats', hostStats(p));
      now += 1000;
    }
    expect(h.hostSamples(HOST).map((s) => s.cpu_percent)).toEqual([10, 20, 30]);
    expect(h.hostSamples(HOST, 1_001_000).map((s) => s.cpu_percent)).toEqual([30]);
    expect(h.hostSamples('other')).toEqual([]);
  });

  it('overwrites the oldest point when the ring is full and hides points older than the window', () => {
    let now = 0;
    const h = new StatsHistory(log, { retentionMs: 10_000, maxSamples: 3 }, () => now);
    for (let i = 1; i <= 5; i++) {
      now = i * 1000;
      h.onAgentEvent(HOST, 'host.stats', hostStats(i));
    }
    expect(h.hostSamples(HOST).map((s) => s.cpu_percent)).toEqual([3, 4, 5]);
    now = 14_500; // 3 s and 4 s points are now older than 10 s
    expect(h.hostSamples(HOST).map((s) => s.cpu_percent)).toEqual([5]);
  });

  it('computes VM CPU from consecutive samples on the same host, and restarts after a host change', () => {
    let now = 0;
    const h = new StatsHistory(log, { retentionMs: 60_000, maxSamples: 10 }, () => now);
    h.onAgentEvent(HOST, 'vm.stats', vmStats(0, 0));
    now = 1000;
    h.onAgentEvent(HOST, 'vm.stats', vmStats(2000, 500));
    now = 2000;
    h.onAgentEvent('h2', 'vm.stats', vmStats(4000, 1500));
    expect(h.vmSamples(VM).map((s) => s.cpu_percent)).toEqual([null, 25, null]);
    expect(h.vmSamples(VM)[0]?.memory_used_bytes).toBe(4096);
  });

  it('drops events that do not match the protocol and ignores other events', () => {
    const h = new StatsHistory(log);
    h.onAgentEvent(HOST, 'host.stats', { at: 'x', cpu: { percent: 'lots' } });
    h.onAgentEvent(HOST, 'vm.stats', { at: 'x', vms: [{ vm_id: '../etc', cpu_time_ms: -1 }] });
    h.onAgentEvent(HOST, 'vm.state', { vm_id: VM });
    expect(h.hostSamples(HOST)).toEqual([]);
    expect(h.vmSamples(VM)).toEqual([]);
  });

  it('forgets objects with nothing left in the window', () => {
    let now = 0;
    const h = new StatsHistory(log, { retentionMs: 60_000, maxSamples: 10 }, () => now);
    h.onAgentEvent('gone', 'host.stats', hostStats(1));
    now = 200_000;
    h.onAgentEvent(HOST, 'host.stats', hostStats(2));
    now = 100_000; // even with the clock back, the swept host has no points any more
    expect(h.hostSamples('gone')).toEqual([]);
  });

  it('reads VIREO_STATS_RETENTION_S and refuses nonsense', () => {
    expect(statsHistorySettingsFromEnv({ VIREO_STATS_RETENTION_S: '7200' })).toEqual({
      retentionMs: 7_200_000,
      maxSamples: 1440,
    });
    expect(() => statsHistorySettingsFromEnv({ VIREO_STATS_RETENTION_S: '5' })).toThrow(/between 60/);
  });

  it('keeps at most the configured number of VM series', () => {
    const h = new StatsHistory(log, { retentionMs: 60_000, maxSamples: 10 }, () => 0, 2);
    const ids = ['a', 'b', 'c'].map((c) => `${c.repeat(8)}-2222-4333-8444-555555555555`);
    h.onAgentEvent(HOST, 'vm.stats', {
      at: new Date(0).toISOString(),
      vms: ids.map((vm_id) => ({ vm_id, cpu_time_ms: 0, rss_bytes: 1, block: [], nics: [] })),
    });
    expect(ids.map((id) => h.vmSamples(id).length)).toEqual([1, 1, 0]);
  });
});
