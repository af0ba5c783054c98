/**
 * Pure parsers for the kernel's text files the host module reads (`/proc/cpuinfo`, `/proc/meminfo`,
 * `/proc/stat`, `/proc/loadavg`, `/proc/uptime`, `/etc/os-release`, sysfs CPU lists). They take the
 * file's text, so tests feed them fixtures from other machines; the readers live next to their users.
 */
import type { HostCpu, HostOs } from '@vireo/agent-protocol';

/** `/proc/cpuinfo` → model, vendor, flags and topology (x86 field names). */
export function parseCpuInfo(text: string): HostCpu {
  const processors = text
    .split(/\n\s*\n/)
    .map(parseColonFields)
    .filter((fields) => fields.has('processor'));
  const first = processors[0] ?? new Map<string, string>();
  const logical = Math.max(1, processors.length);
  const socketIds = new Set(processors.map((p) => p.get('physical id')).filter((id) => id !== undefined));
  const sockets = Math.max(1, socketIds.size);
  // `cpu cores` is per socket; without it (some VMs) count distinct core ids in socket 0.
  const declaredCores = positiveInt(first.get('cpu cores'));
  const coreIds = new Set(
    processors
      .filter((p) => p.get('physical id') === first.get('physical id'))
      .map((p) => p.get('core id'))
      .filter((id) => id !== undefined),
  );
  const coresPerSocket = declaredCores ?? Math.max(1, coreIds.size || Math.floor(logical / sockets));
  const threadsPerCore = Math.max(1, Math.round(logical / (sockets * coresPerSocket)));
  const mhz = Number(first.get('cpu MHz'));
  return {
    model: first.get('model name') ?? 'unknown',
    vendor: first.get('vendor_id') ?? 'unknown',
    flags: (first.get('flags') ?? '').split(/\s+/).filter(Boolean),
    sockets,
    cores_per_socket: coresPerSocket,
    threads_per_core: threadsPerCore,
    logical_cpus: logical,
    mhz: Number.isFinite(mhz) && first.has('cpu MHz') ? mhz : null,
  };
}

/** `/proc/meminfo` (and a NUMA node's `meminfo`) → sizes in bytes by field name. */
export function parseMeminfo(text: string): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const line of text.split('\n')) {
    // "MemTotal:  24684092 kB", or in a node's file "Node 0 MemTotal:  7170260 kB".
    const match = /^(?:Node \d+ )?([\w()]+):\s+(\d+)(?: kB)?\s*$/.exec(line);
    if (!match) continue;
    const unit = line.trimEnd().endsWith('kB') ? 1024 : 1;
    sizes.set(match[1]!, Number(match[2]) * unit);
  }
  return sizes;
}

/** Cumulative CPU time of all CPUs from the `cpu` line of `/proc/stat`, in clock ticks. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/**
 * `/proc/stat` → the aggregate `cpu` line and the number of `cpuN` lines. `guest` and `guest_nice`
 * are left out on purpose: the kernel already counts them inside `user` and `nice`.
 */
export function parseProcStat(text: string): { total: CpuTimes; cpus: number } {
  let total: CpuTimes | undefined;
  let cpus = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) {
      const [user, nice, system, idle, iowait, irq, softirq, steal] = line
        .slice(4)
        .trim()
        .split(/\s+/)
        .map((v) => Number(v) || 0);
      total = {
        user: user ?? 0,
        nice: nice ?? 0,
        system: system ?? 0,
        idle: idle ?? 0,
        iowait: iowait ?? 0,
        irq: irq ?? 0,
        softirq: softirq ?? 0,
        steal: steal ?? 0,
      };
    } else if (/^cpu\d+ /.test(line)) {
      cpus++;
    }
  }
  if (!total) throw new Error('no aggregate "cpu" line in /proc/stat');
  return { total, cpus: Math.max(1, cpus) };
}

/** `/proc/loadavg` → the three load averages. */
export function parseLoadavg(text: string): { one: number; five: number; fifteen: number } {
  const [one, five, fifteen] = text.trim().split(/\s+/).map(Number);
  if (![one, five, fifteen].every((v) => Number.isFinite(v))) throw new Error(`bad /proc/loadavg: "${text}"`);
  return { one: one!, five: five!, fifteen: fifteen! };
}

/** `/proc/uptime` → seconds since boot. */
export function parseUptime(text: string): number {
  const seconds = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`bad /proc/uptime: "${text}"`);
  return seconds;
}

/** `/etc/os-release` (shell-style `KEY=value`, values optionally quoted) → id, version, pretty name. */
export function parseOsRelease(text: string): HostOs {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\([\\"$`])/g, '$1');
    }
    values.set(match[1]!, value);
  }
  const id = values.get('ID') ?? 'linux';
  return {
    id,
    version_id: values.get('VERSION_ID') ?? '',
    pretty_name: values.get('PRETTY_NAME') ?? values.get('NAME') ?? id,
  };
}

/** Largest CPU number accepted from a list: sysfs never goes near it, a corrupt file could. */
const MAX_CPU_NUMBER = 1 << 16;

/** A sysfs CPU list (`0-3,8,10-11`) → the CPU numbers. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new Error(`bad CPU list "${text.trim()}"`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from || to > MAX_CPU_NUMBER) throw new Error(`bad CPU range "${part}"`);
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}

function parseColonFields(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return fields;
}

function positiveInt(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}
