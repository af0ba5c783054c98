import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { listVmIdsOnHost, markVmsUnknownOnHost, setVmObservedOnHost } from '../db/repositories/vms';
import type { Db } from '../db/schema';

/**
 * Agent VM states → the engine's. `crashed` (QEMU alive, guest dead), `damaged` and the agent's own
 * transient `unknown` all mean "the engine cannot say it runs": `unknown`, with the agent's reason.
 */
export function engineVmState(agentState: string): string {
  switch (agentState) {
    case 'down':
    case 'starting':
    case 'up':
    case 'paused':
    case 'powering_down':
      return agentState;
    default:
      return 'unknown';
  }
}

/**
 * The only writer of observed VM state: from the agents' `vm.state` events, from `vm.list` when an
 * agent (re)connects, and `unknown` when a host disconnects. Controllers wait on it for changes.
 */
export class VmMonitor {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly log: Logger;
  private readonly onEvent = (hostId: string, name: string, params: Record<string, unknown>) => {
    if (name !== 'vm.state') return;
    const p = params as { vm_id?: string; state?: string; reason?: string };
    if (!p.vm_id || !p.state) return;
    void this.observe(hostId, { id: p.vm_id, state: p.state, reason: p.reason ?? '' }).catch((err) =>
      this.log.warn({ err, hostId, vmId: p.vm_id }, 'recording a VM state event failed'),
    );
  };
  private readonly onConnected = (hostId: string) => {
    void this.resync(hostId).catch((err) =>
      this.log.warn({ err, hostId }, 'reading the VMs of a reconnected host failed'),
    );
  };
  private readonly onDisconnected = (hostId: string) => {
    void this.markHostUnknown(hostId).catch((err) =>
      this.log.warn({ err, hostId }, 'marking the VMs of a disconnected host unknown failed'),
    );
  };

  constructor(private readonly deps: { db: Db; hub: AgentHub; log: Logger }) {
    this.log = deps.log.child({ module: 'engine:vm-monitor' });
  }

  start(): void {
    this.deps.hub.on('event', this.onEvent);
    this.deps.hub.on('connected', this.onConnected);
    this.deps.hub.on('disconnected', this.onDisconnected);
  }

  stop(): void {
    this.deps.hub.off('event', this.onEvent);
    this.deps.hub.off('connected', this.onConnected);
    this.deps.hub.off('disconnected', this.onDisconnected);
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }

  /**
   * Records what a host reports about one VM. Reports from a host the VM is not placed on are
   * ignored: a stale agent must not overwrite the state of a VM that moved.
   */
  async observe(hostId: string, info: { id: string; state: string; reason: string }): Promise<void> {
    // One conditional UPDATE (placed on this host, state differs) rather than read-then-write.
    const changed = await setVmObservedOnHost(this.deps.db, info.id, hostId, {
      state: engineVmState(info.state),
      reason: info.reason,
    });
    if (changed) {
      this.log.debug({ vmId: info.id, hostId, state: changed.state, reason: info.reason }, 'VM state');
      this.wake(info.id);
    }
  }

  /** After a (re)connect: the agent's list is the truth for every VM placed on that host. */
  async resync(hostId: string): Promise<void> {
    const { vms } = await this.deps.hub.call(hostId, 'vm.list', {});
    const reported = new Map(vms.map((v) => [v.id, v]));
    for (const id of await listVmIdsOnHost(this.deps.db, hostId)) {
      const info = reported.get(id) ?? { id, state: 'down' as const, reason: 'not_on_host' };
      await this.observe(hostId, info);
    }
  }

  async markHostUnknown(hostId: string): Promise<void> {
    for (const id of await markVmsUnknownOnHost(this.deps.db, hostId)) this.wake(id);
  }

  /** Resolves at the VM's next observed change, after `ms`, or when `signal` aborts. */
  waitForChange(vmId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(vmId);
      if (!set) {
        set = new Set();
        this.waiters.set(vmId, set);
      }
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const s = this.waiters.get(vmId);
        s?.delete(done);
        if (s?.size === 0) this.waiters.delete(vmId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  private wake(vmId: string): void {
    for (const w of [...(this.waiters.get(vmId) ?? [])]) w();
  }
}
