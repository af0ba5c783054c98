import type { HostState } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHubImpl } from '../agents/hub';
import { type LeasedJob, runLeased } from '../controllers/lease';
import { allHosts, findHost, lockHost, updateHost } from '../db/repositories/hosts';
import type { Db } from '../db/schema';
import type { HostRow } from '../db/tables/hosts';
import type { AuditRecorder } from '../services/ports';
import { type HostSignal, nextHostState } from './host-state';

/** Heartbeat tuning; short values make tests fast, the defaults suit real networks. */
export interface HostMonitorSettings {
  /** How often each connected agent is asked for `host.stats` (the heartbeat). */
  heartbeatIntervalMs: number;
  /** A heartbeat not answered within this counts as lost and the connection is redone. */
  heartbeatTimeoutMs: number;
  /** How long a host may stay `connecting` before it is `non_responsive`. */
  graceMs: number;
}

export const DEFAULT_HOST_MONITOR_SETTINGS: HostMonitorSettings = {
  heartbeatIntervalMs: 10_000,
  heartbeatTimeoutMs: 10_000,
  graceMs: 30_000,
};

/** Reads `VIREO_HOST_HEARTBEAT_MS`, `VIREO_HOST_HEARTBEAT_TIMEOUT_MS`, `VIREO_HOST_GRACE_MS`. */
export function hostMonitorSettingsFromEnv(env: NodeJS.ProcessEnv): HostMonitorSettings {
  const num = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 50 || n > 3_600_000) {
      throw new Error(`${name} must be an integer number of milliseconds between 50 and 3600000`);
    }
    return n;
  };
  return {
    heartbeatIntervalMs: num('VIREO_HOST_HEARTBEAT_MS', DEFAULT_HOST_MONITOR_SETTINGS.heartbeatIntervalMs),
    heartbeatTimeoutMs: num(
      'VIREO_HOST_HEARTBEAT_TIMEOUT_MS',
      DEFAULT_HOST_MONITOR_SETTINGS.heartbeatTimeoutMs,
    ),
    graceMs: num('VIREO_HOST_GRACE_MS', DEFAULT_HOST_MONITOR_SETTINGS.graceMs),
  };
}

/** What the monitor needs of the agent hub (a fake one in tests). */
export type MonitoredHub = Pick<
  AgentHubImpl,
  'on' | 'call' | 'isConnected' | 'reconnect' | 'close' | 'add' | 'remove'
>;

/** Name of the heartbeat pass in `job_leases`: one engine of those sharing a database runs it. */
export const HEARTBEAT_JOB = 'hosts.heartbeat';

/**
 * Ingests what the agent hub sees (connects, closes, heartbeats) into the `hosts` table: the only
 * writer of a host's observed state. Every state change is one transaction with its
 * `host.state_changed` audit event. The periodic heartbeat pass is leased (`hosts.heartbeat`), so
 * engines sharing a database do not all poll every host and race on its state.
 */
export class HostMonitor {
  private job: LeasedJob | undefined;
  private readonly log: Logger;
  private running = false;
  private tickBusy = false;
  /** Hosts whose current connection has reported its capabilities: only these get heartbeats. */
  private readonly ready = new Set<string>();

  constructor(
    private readonly deps: { db: Db; hub: MonitoredHub; audit: AuditRecorder; log: Logger },
    private readonly settings: HostMonitorSettings = DEFAULT_HOST_MONITOR_SETTINGS,
    /** Lease holder name (tests give each simulated engine its own). */
    private readonly holder?: string,
  ) {
    this.log = deps.log.child({ module: 'engine:host-monitor' });
  }

  async start(): Promise<void> {
    this.running = true;
    const { hub } = this.deps;
    hub.on('connected', (hostId, hello) => void this.onConnected(hostId, hello.agent_version));
    hub.on('disconnected', (hostId, reason) => {
      this.ready.delete(hostId);
      void this.signal(hostId, { kind: 'lost', reason });
    });
    for (const host of await allHosts(this.deps.db)) this.track(host);
    this.job = runLeased(this.deps.db, HEARTBEAT_JOB, this.settings.heartbeatIntervalMs, () => this.tick(), {
      log: this.log,
      runAtStart: false,
      ...(this.holder ? { holder: this.holder } : {}),
    });
  }

  /** Whether this engine ran the last heartbeat pass (holds the lease). */
  get leading(): boolean {
    return this.job?.holding ?? false;
  }

  async stop(): Promise<void> {
    this.running = false;
    // Closing the hub first fails heartbeats in flight at once, so the pass ends without waiting.
    await this.deps.hub.close();
    await this.job?.stop();
  }

  /** Starts connecting to a host that has a certificate (enrolled). */
  track(host: HostRow): void {
    if (!host.certificate_serial) return;
    this.deps.hub.add({ hostId: host.id, address: host.address, port: host.agent_port });
  }

  /** Stops connecting to a removed host. */
  untrack(hostId: string): void {
    this.ready.delete(hostId);
    this.deps.hub.remove(hostId);
  }

  private async onConnected(hostId: string, agentVersion: string): Promise<void> {
    try {
      const capabilities = await this.deps.hub.call(
        hostId,
        'host.capabilities',
        {},
        {
          // Capabilities probe QEMU (slow on a busy host): not held to the heartbeat deadline.
          timeoutMs: Math.max(30_000, this.settings.heartbeatTimeoutMs),
        },
      );
      await updateHost(this.deps.db, hostId, {
        capabilities,
        agent_version: agentVersion,
        last_heartbeat_at: new Date(),
      });
      if (this.deps.hub.isConnected(hostId)) this.ready.add(hostId);
      await this.signal(hostId, { kind: 'connected' });
    } catch (err) {
      this.log.warn({ hostId, err }, 'reading the capabilities of a newly connected agent failed');
      this.deps.hub.reconnect(hostId);
    }
  }

  private async tick(): Promise<void> {
    if (this.tickBusy || !this.running) return;
    this.tickBusy = true;
    try {
      const hosts = await allHosts(this.deps.db);
      await Promise.all(hosts.map((h) => this.checkHost(h)));
    } catch (err) {
      this.log.warn({ err }, 'host monitor pass failed');
    } finally {
      this.tickBusy = false;
    }
  }

  private async checkHost(host: HostRow): Promise<void> {
    const { hub } = this.deps;
    // Connected but capabilities not yet read: onConnected decides; neither heartbeat nor grace.
    if (hub.isConnected(host.id) && !this.ready.has(host.id)) return;
    if (hub.isConnected(host.id)) {
      try {
        const stats = await hub.call(
          host.id,
          'host.stats',
          {},
          { timeoutMs: this.settings.heartbeatTimeoutMs },
        );
        await updateHost(this.deps.db, host.id, { last_stats: stats, last_heartbeat_at: new Date() });
        await this.signal(host.id, { kind: 'heartbeat_ok' });
      } catch (err) {
        // A hung agent keeps its socket open: drop it so the reconnect loop takes over.
        hub.reconnect(host.id);
        await this.signal(host.id, { kind: 'lost', reason: `heartbeat failed: ${(err as Error).message}` });
      }
      return;
    }
    await this.signal(host.id, {
      kind: 'tick',
      now: Date.now(),
      stateChangedAt: host.state_changed_at.getTime(),
      graceMs: this.settings.graceMs,
    });
  }

  /** Applies a signal to the host's state under a row lock; writes the change and its audit event. */
  async signal(hostId: string, signal: HostSignal): Promise<void> {
    if (!this.running) return;
    try {
      await this.deps.db.transaction().execute(async (tx) => {
        const host = await lockHost(tx, hostId);
        if (!host) return;
        const next = nextHostState(host.state as HostState, signal);
        if (!next) return;
        await updateHost(tx, hostId, {
          state: next.state,
          state_reason: next.reason,
          state_changed_at: new Date(),
        });
        await this.deps.audit.record(tx, {
          kind: 'host.state_changed',
          severity: next.state === 'up' ? 'info' : 'warning',
          message: `Host ${host.name} is now ${next.state}${next.reason ? `: ${next.reason}` : ''}`,
          object: { kind: 'host', id: host.id, name: host.name },
          details: { from: host.state, to: next.state, reason: next.reason },
        });
        this.log.info(
          { hostId, from: host.state, to: next.state, reason: next.reason },
          'host state changed',
        );
      });
    } catch (err) {
      this.log.warn({ hostId, err }, 'recording a host state change failed');
    }
  }

  /** For services: whether the row exists (used after enrollment). */
  async exists(hostId: string): Promise<boolean> {
    return (await findHost(this.deps.db, hostId)) !== undefined;
  }
}
