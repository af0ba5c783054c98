import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCpuStats, HostMemoryStats, HostStats } from '@vireo/agent-protocol';
import { AgentError } from '../util/errors';
import { readHostIo } from './io-counters';
import { type CpuTimes, parseLoadavg, parseMeminfo, parseProcStat, parseUptime } from './procfs';

/** Ticks per second of every `/proc` time (USER_HZ, fixed at 100 on Linux). */
const USER_HZ = 100;

const ZERO_TIMES: CpuTimes = {
  user: 0,
  nice: 0,
  system: 0,
  idle: 0,
  iowait: 0,
  irq: 0,
  softirq: 0,
  steal: 0,
};

/**
 * CPU shares between two `/proc/stat` samples (`previous` undefined: since boot). Counters that
 * went backwards (CPU hot-unplug) count as zero rather than producing negative shares.
 */
export function computeCpuStats(
  previous: CpuTimes | undefined,
  current: CpuTimes,
  logicalCpus: number,
): HostCpuStats {
  const before = previous ?? ZERO_TIMES;
  const delta = (key: keyof CpuTimes) => Math.max(0, current[key] - before[key]);
  const user = delta('user') + delta('nice');
  const system = delta('system') + delta('irq') + delta('softirq');
  const idle = delta('idle');
  const iowait = delta('iowait');
  const steal = delta('steal');
  const total = user + system + idle + iowait + steal;
  const share = (ticks: number) => (total > 0 ? round2((100 * ticks) / total) : 0);
  return {
    percent: share(user + system + steal),
    user_percent: share(user),
    system_percent: share(system),
    iowait_percent: share(iowait),
    steal_percent: share(steal),
    // Every CPU's ticks are summed in the `cpu` line, so wall time is total / CPUs.
    interval_s: round2(total / USER_HZ / Math.max(1, logicalCpus)),
    logical_cpus: logicalCpus,
  };
}

/** Memory figures from `/proc/meminfo` sizes (bytes). */
export function memoryStats(sizes: Map<string, number>): HostMemoryStats {
  const total = sizes.get('MemTotal') ?? 0;
  const free = sizes.get('MemFree') ?? 0;
  // MemAvailable exists since Linux 3.14; before it, free + page cache is the usual estimate.
  const available = Math.min(
    total,
    sizes.get('MemAvailable') ?? free + (sizes.get('Buffers') ?? 0) + (sizes.get('Cached') ?? 0),
  );
  return {
    total_bytes: total,
    available_bytes: available,
    used_bytes: total - available,
    free_bytes: free,
    swap_total_bytes: sizes.get('SwapTotal') ?? 0,
    swap_free_bytes: sizes.get('SwapFree') ?? 0,
  };
}

/**
 * Samples the host's load from `/proc` (four small reads, well under a millisecond). CPU shares
 * cover the time since the previous `sample()` of the same sampler, so keep one per consumer.
 */
export class HostStatsSampler {
  private previous: CpuTimes | undefined;

  constructor(
    private readonly procRoot = '/proc',
    private readonly sysRoot = '/sys',
  ) {}

  async sample(): Promise<HostStats> {
    const read = (name: string) => readFile(join(this.procRoot, name), 'utf8');
    try {
      const [stat, meminfo, loadavg, uptime, io] = await Promise.all([
        read('stat'),
        read('meminfo'),
        read('loadavg'),
        read('uptime'),
        // I/O counters are a bonus for graphs: never fail the heartbeat over them.
        readHostIo(this.procRoot, this.sysRoot).catch(() => undefined),
      ]);
      const { total, cpus } = parseProcStat(stat);
      const cpu = computeCpuStats(this.previous, total, cpus);
      this.previous = total;
      return {
        at: new Date().toISOString(),
        cpu,
        memory: memoryStats(parseMeminfo(meminfo)),
        load: parseLoadavg(loadavg),
        uptime_s: parseUptime(uptime),
        ...(io ? { io } : {}),
      };
    } catch (cause) {
      throw new AgentError('internal_error', `reading host stats from ${this.procRoot} failed`, { cause });
    }
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
