import type { HostIoCounters, HostStats, VmStatsSample } from '@vireo/agent-protocol';

/**
 * One point of a stats history as the engine keeps it. Rates are per second over the interval
 * since the previous sample of the same object; `null` where there is nothing to compare with
 * (first sample, counter reset) or nothing is reported (a host's I/O, a VM's user-mode NIC).
 */
export interface StoredSample {
  /** Engine receive time, ms since the epoch: one clock for every host, so charts line up. */
  at: number;
  /**
   * Hosts: busy share of all CPUs (0–100). VMs: CPU time of the QEMU process as a share of one
   * host CPU (may exceed 100); the API divides it by the VM's vCPUs when it serves it.
   */
  cpu_percent: number | null;
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  net_rx_bps: number | null;
  net_tx_bps: number | null;
  disk_read_bps: number | null;
  disk_write_bps: number | null;
}

/** The raw counters of a VM's previous sample, kept to turn the next one into rates. */
export interface VmCounters {
  /** Agent time of the sample, ms (the counters' own clock). */
  at: number;
  cpuTimeMs: number;
  /** Per device / interface, so a hot-plugged device does not look like a burst of traffic. */
  block: Map<string, { rd: number; wr: number }>;
  nics: Map<string, { rx: number; tx: number }>;
}

/** Counters of one VM sample, keyed for the next rate computation. */
export function vmCounters(sample: VmStatsSample, at: number): VmCounters {
  return {
    at,
    cpuTimeMs: sample.cpu_time_ms,
    block: new Map(sample.block.map((b) => [b.device, { rd: b.rd_bytes, wr: b.wr_bytes }])),
    nics: new Map(sample.nics.map((n) => [n.ifname, { rx: n.rx_bytes, tx: n.tx_bytes }])),
  };
}

/**
 * Sum of per-key rates over the keys present in both samples. A key whose counter went backwards
 * (device replaced, QEMU restarted) makes the whole sum unknown rather than a made-up number.
 */
function summedRates<T>(
  previous: Map<string, T>,
  current: Map<string, T>,
  pick: (v: T) => number,
  seconds: number,
): number | null {
  let total = 0;
  let matched = 0;
  for (const [key, now] of current) {
    const before = previous.get(key);
    if (before === undefined) continue;
    const delta = pick(now) - pick(before);
    if (delta < 0) return null;
    total += delta;
    matched++;
  }
  return matched === 0 ? null : round(total / seconds);
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Turns a VM sample into a stored point, given the counters of the previous one (or undefined).
 * `at` is the engine receive time; `previous.at`/`current.at` are agent times and set the interval.
 */
export function vmPoint(
  previous: VmCounters | undefined,
  current: VmCounters,
  rssBytes: number,
  at: number,
): StoredSample {
  const seconds = previous ? (current.at - previous.at) / 1000 : 0;
  const comparable = previous !== undefined && seconds > 0;
  const cpuDelta = comparable ? current.cpuTimeMs - previous.cpuTimeMs : -1;
  const rate = <T>(prev: Map<string, T> | undefined, cur: Map<string, T>, pick: (v: T) => number) =>
    comparable && prev ? summedRates(prev, cur, pick, seconds) : null;
  return {
    at,
    cpu_percent: comparable && cpuDelta >= 0 ? round((100 * cpuDelta) / (seconds * 1000), 2) : null,
    memory_used_bytes: rssBytes,
    memory_total_bytes: null,
    net_rx_bps: rate(previous?.nics, current.nics, (v) => v.rx),
    net_tx_bps: rate(previous?.nics, current.nics, (v) => v.tx),
    disk_read_bps: rate(previous?.block, current.block, (v) => v.rd),
    disk_write_bps: rate(previous?.block, current.block, (v) => v.wr),
  };
}

/** A host's I/O counters at one agent time (ms), kept to turn the next sample into rates. */
export interface HostCounters {
  at: number;
  io: HostIoCounters;
}

/**
 * A host sample already carries its CPU share; memory is what schedulers call used (total −
 * available); network and disk rates come from the I/O counters of this and the previous sample
 * (unknown on the first, after a counter reset such as a reboot, or from an agent without them).
 */
export function hostPoint(stats: HostStats, at: number, previous?: HostCounters): StoredSample {
  const agentAt = Date.parse(stats.at);
  const seconds = previous && Number.isFinite(agentAt) ? (agentAt - previous.at) / 1000 : 0;
  const rate = (key: keyof HostIoCounters): number | null => {
    if (!previous || !stats.io || seconds <= 0) return null;
    const delta = stats.io[key] - previous.io[key];
    return delta < 0 ? null : round(delta / seconds);
  };
  return {
    at,
    cpu_percent: stats.cpu.percent,
    memory_used_bytes: stats.memory.used_bytes,
    memory_total_bytes: stats.memory.total_bytes,
    net_rx_bps: rate('net_rx_bytes'),
    net_tx_bps: rate('net_tx_bytes'),
    disk_read_bps: rate('disk_read_bytes'),
    disk_write_bps: rate('disk_write_bytes'),
  };
}

/** The counters of a host sample for the next rate computation, if it has any. */
export function hostCounters(stats: HostStats): HostCounters | undefined {
  const at = Date.parse(stats.at);
  return stats.io && Number.isFinite(at) ? { at, io: stats.io } : undefined;
}
