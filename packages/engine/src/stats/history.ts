import { HostStatsSchema, VmStatsEventSchema } from '@vireo/agent-protocol';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from 'pino';
import {
  type HostCounters,
  hostCounters,
  hostPoint,
  type StoredSample,
  type VmCounters,
  vmCounters,
  vmPoint,
} from './rates';

/** How much history is kept; defaults: one hour, at most 720 points (5 s sampling) per object. */
export interface StatsHistorySettings {
  retentionMs: number;
  maxSamples: number;
}

export const DEFAULT_STATS_HISTORY_SETTINGS: StatsHistorySettings = {
  retentionMs: 60 * 60 * 1000,
  maxSamples: 720,
};

/** Reads `VIREO_STATS_RETENTION_S` (60…86400). */
export function statsHistorySettingsFromEnv(env: NodeJS.ProcessEnv): StatsHistorySettings {
  const raw = env.VIREO_STATS_RETENTION_S;
  if (raw === undefined || raw === '') return DEFAULT_STATS_HISTORY_SETTINGS;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > 86_400) {
    throw new Error('VIREO_STATS_RETENTION_S must be an integer number of seconds between 60 and 86400');
  }
  // Keep the per-object cap proportional so a longer window is not cut short at 5 s sampling.
  return { retentionMs: seconds * 1000, maxSamples: Math.max(720, Math.ceil(seconds / 5)) };
}

/** Fixed-capacity FIFO: appending to a full ring overwrites its oldest point. */
class Ring {
  private readonly items: StoredSample[] = [];
  private start = 0;

  constructor(private readonly capacity: number) {}

  push(item: StoredSample): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Points newer than `after` (ms) and not older than `notBefore`, oldest first. */
  since(after: number, notBefore: number): StoredSample[] {
    const ordered = [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
    return ordered.filter((s) => s.at > after && s.at >= notBefore);
  }

  get newest(): StoredSample | undefined {
    if (this.items.length === 0) return undefined;
    return this.items[(this.start + this.items.length - 1) % this.items.length];
  }
}

interface VmSeries {
  ring: Ring;
  hostId: string;
  counters: VmCounters | undefined;
}

/**
 * Most VM series kept at once: agents are trusted to report their own VMs, but a broken one must
 * not grow the engine's memory without bound by inventing VM ids (~70 MB at the cap, 720 points).
 */
export const MAX_VM_SERIES = 10_000;

const checkHostStats = TypeCompiler.Compile(HostStatsSchema);
const checkVmStats = TypeCompiler.Compile(VmStatsEventSchema);

/**
 * The engine's short, in-memory history of agent stats (ADR 016): one ring of points per host and
 * per VM, fed by the agents' `host.stats` and `vm.stats` events. Lost on engine restart by design —
 * it is for "what happened in the last hour" graphs, not accounting.
 */
export class StatsHistory {
  private readonly hosts = new Map<string, Ring>();
  private readonly hostIo = new Map<string, HostCounters>();
  private readonly vms = new Map<string, VmSeries>();
  private lastSweep = 0;
  private readonly listeners = new Map<string, Set<(point: StoredSample) => void>>();

  constructor(
    private readonly log: Logger,
    private readonly settings: StatsHistorySettings = DEFAULT_STATS_HISTORY_SETTINGS,
    private readonly now: () => number = Date.now,
    private readonly maxVmSeries = MAX_VM_SERIES,
  ) {}

  /**
   * Hub listener: takes `host.stats` and `vm.stats` notifications, ignores the rest. Events come
   * from agents, so anything not matching the protocol schema is dropped with a warning.
   */
  readonly onAgentEvent = (hostId: string, name: string, params: Record<string, unknown>): void => {
    try {
      if (name === 'host.stats') {
        if (!checkHostStats.Check(params)) {
          this.reject(hostId, name);
          return;
        }
        this.addHost(hostId, hostPoint(params, this.now(), this.hostIo.get(hostId)));
        const counters = hostCounters(params);
        if (counters) this.hostIo.set(hostId, counters);
        else this.hostIo.delete(hostId);
      } else if (name === 'vm.stats') {
        if (!checkVmStats.Check(params)) {
          this.reject(hostId, name);
          return;
        }
        const received = this.now();
        const agentAt = Date.parse(params.at);
        for (const vm of params.vms) {
          const counters = vmCounters(vm, Number.isFinite(agentAt) ? agentAt : received);
          let series = this.vms.get(vm.vm_id);
          if (!series) {
            if (this.vms.size >= this.maxVmSeries) {
              this.log.warn({ hostId, vmId: vm.vm_id }, 'too many VM stats series: dropping a new one');
              continue;
            }
            series = { ring: new Ring(this.settings.maxSamples), hostId, counters: undefined };
            this.vms.set(vm.vm_id, series);
          }
          // Counters of a QEMU on another host (migration, restart elsewhere) are not comparable.
          const previous = series.hostId === hostId ? series.counters : undefined;
          const point = vmPoint(previous, counters, vm.rss_bytes, received);
          series.ring.push(point);
          this.notify(`vm:${vm.vm_id}`, point);
          series.hostId = hostId;
          series.counters = counters;
        }
      } else return;
      this.sweep();
    } catch (err) {
      this.log.warn({ err, hostId, event: name }, 'recording agent stats failed');
    }
  };

  /** Points of a host newer than `sinceMs` (default: the whole retained window). */
  hostSamples(hostId: string, sinceMs = Number.NEGATIVE_INFINITY): StoredSample[] {
    return this.hosts.get(hostId)?.since(sinceMs, this.now() - this.settings.retentionMs) ?? [];
  }

  /** Points of a VM newer than `sinceMs`; `cpu_percent` is per one host CPU here (see StoredSample). */
  vmSamples(vmId: string, sinceMs = Number.NEGATIVE_INFINITY): StoredSample[] {
    return this.vms.get(vmId)?.ring.since(sinceMs, this.now() - this.settings.retentionMs) ?? [];
  }

  /** How long points are kept, in seconds. */
  get retentionSeconds(): number {
    return Math.round(this.settings.retentionMs / 1000);
  }

  private addHost(hostId: string, point: StoredSample): void {
    let ring = this.hosts.get(hostId);
    if (!ring) {
      ring = new Ring(this.settings.maxSamples);
      this.hosts.set(hostId, ring);
    }
    ring.push(point);
    this.notify(`host:${hostId}`, point);
  }

  /**
   * Calls `listener` with every new point of one host or VM (the live stats streams); returns the
   * unsubscribe function. Listeners must not throw.
   */
  subscribe(kind: 'host' | 'vm', id: string, listener: (point: StoredSample) => void): () => void {
    const key = `${kind}:${id}`;
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  private notify(key: string, point: StoredSample): void {
    const set = this.listeners.get(key);
    if (!set) return;
    for (const l of set) {
      try {
        l(point);
      } catch (err) {
        this.log.warn({ err, key }, 'a stats listener failed');
      }
    }
  }

  private reject(hostId: string, name: string): void {
    this.log.warn({ hostId, event: name }, 'dropped an agent stats event that does not match the protocol');
  }

  /** Forgets objects with nothing inside the window (deleted VMs and hosts), at most once a minute. */
  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    const cutoff = now - this.settings.retentionMs;
    for (const [id, ring] of this.hosts) {
      if ((ring.newest?.at ?? 0) >= cutoff) continue;
      this.hosts.delete(id);
      this.hostIo.delete(id);
    }
    for (const [id, series] of this.vms) if ((series.ring.newest?.at ?? 0) < cutoff) this.vms.delete(id);
  }
}
