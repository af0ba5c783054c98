import { HostStatsSchema } from '@vireo/agent-protocol';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import type { CpuTimes } from './procfs';
import { computeCpuStats, HostStatsSampler, memoryStats } from './stats';

const times = (over: Partial<CpuTimes>): CpuTimes => ({
  user: 0,
  nice: 0,
  system: 0,
  idle: 0,
  iowait: 0,
  irq: 0,
  softirq: 0,
  steal: 0,
  ...over,
});

describe('computeCpuStats', () => {
  it('splits the interval between two samples', () => {
    const before = times({ user: 1000, system: 500, idle: 8000 });
    // 400 ticks on 2 CPUs = 2 s: 100 user + 20 nice, 40 system + 20 irq + 20 softirq, 140 idle,
    // 40 iowait, 20 stolen by the hypervisor (busy: not available to us, not idle either).
    const after = times({
      user: 1100,
      nice: 20,
      system: 540,
      irq: 20,
      softirq: 20,
      idle: 8140,
      iowait: 40,
      steal: 20,
    });
    expect(computeCpuStats(before, after, 2)).toEqual({
      percent: 55,
      user_percent: 30,
      system_percent: 20,
      iowait_percent: 10,
      steal_percent: 5,
      interval_s: 2,
      logical_cpus: 2,
    });
  });

  it('covers the time since boot for the first sample, and never goes negative', () => {
    expect(computeCpuStats(undefined, times({ user: 100, idle: 300 }), 1)).toMatchObject({
      percent: 25,
      interval_s: 4,
    });
    const wentBack = computeCpuStats(times({ user: 500, idle: 500 }), times({ user: 400, idle: 600 }), 1);
    expect(wentBack).toMatchObject({ percent: 0, user_percent: 0 });
    expect(computeCpuStats(times({}), times({}), 4)).toMatchObject({ percent: 0, interval_s: 0 });
  });
});

describe('memoryStats', () => {
  it('uses MemAvailable, or estimates it on old kernels', () => {
    const gib = 1024 ** 3;
    expect(
      memoryStats(
        new Map([
          ['MemTotal', 8 * gib],
          ['MemFree', 1 * gib],
          ['MemAvailable', 5 * gib],
          ['SwapTotal', 2 * gib],
          ['SwapFree', gib],
        ]),
      ),
    ).toEqual({
      total_bytes: 8 * gib,
      available_bytes: 5 * gib,
      used_bytes: 3 * gib,
      free_bytes: gib,
      swap_total_bytes: 2 * gib,
      swap_free_bytes: gib,
    });
    const old = memoryStats(
      new Map([
        ['MemTotal', 8 * gib],
        ['MemFree', gib],
        ['Buffers', gib],
        ['Cached', 2 * gib],
      ]),
    );
    expect(old.available_bytes).toBe(4 * gib);
  });
});

describe('HostStatsSampler (this machine)', () => {
  it('sees the CPU this test burns between two samples', async () => {
    const sampler = new HostStatsSampler();
    const first = await sampler.sample();
    expect(Value.Check(HostStatsSchema, first)).toBe(true);
    expect(first.uptime_s).toBeGreaterThan(0);
    expect(first.memory.total_bytes).toBeGreaterThan(first.memory.available_bytes);

    const until = Date.now() + 400;
    while (Date.now() < until) {
      // Busy on purpose: one core fully used is at least 1/N of the host.
    }
    const second = await sampler.sample();
    expect(Value.Check(HostStatsSchema, second)).toBe(true);
    // The second sample covers only the time since the first one…
    expect(second.cpu.interval_s).toBeGreaterThanOrEqual(0.3);
    expect(second.cpu.interval_s).toBeLessThan(10);
    // …in which this test kept one CPU busy (other work on the machine only adds to it).
    expect(second.cpu.percent).toBeGreaterThanOrEqual((100 / second.cpu.logical_cpus) * 0.6);
  });

  it('fails with a coded error when /proc is not there', async () => {
    await expect(new HostStatsSampler('/nonexistent-proc').sample()).rejects.toMatchObject({
      code: 'internal_error',
    });
  });
});
