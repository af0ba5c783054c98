import type { VmDisk } from '@vireo/agent-protocol';
import type { VmAction } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { domainsByIds, listVmDisks, setVolumeOnStorage, type VmDiskView } from '../db/repositories/disks';
import { findVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import type { VmRow } from '../db/tables/vms';
import { ACTION_RULES } from '../domain/vm/actions';
import { cdromDomainOf } from '../domain/storage/cdrom';
import { buildVmSpec, type HostPaths } from '../domain/vm/spec';
import { Conflict, NotFound, Unavailable, VireoError } from '../errors';
import type { VmMonitor } from '../monitors/vm-monitor';
import { diskKeyOf } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';
import { baseDiskOf } from '../secrets/volume-keys';
import { createVolumeOn, diskSecretId, vmDiskSpec } from './disk-storage';
import type { OperationContext } from '../operations';
import { type VmAgentMethod, decideVmStep } from './vm-decide';
import { takeMemoryRestore } from './snapshot-memory';

export interface VmControllerOptions {
  db: Db;
  hub: AgentHub;
  monitor: VmMonitor;
  paths: HostPaths;
  log: Logger;
  /** How long one action may take before its operation fails (default 180 s). */
  actionTimeoutMs?: number;
  /** Seconds a guest gets to power off after ACPI before the agent powers it off (default 60). */
  shutdownTimeoutS?: number;
  /** Unwraps encrypted disks' keys for `vm.start`. */
  masterKey?: MasterKey;
}

/** The agent's stable error code of a failed call (the hub wraps it), when there is one. */
export function agentCodeOf(err: unknown): string | undefined {
  const e = err as { agentCode?: unknown; code?: unknown } | null;
  if (typeof e?.agentCode === 'string') return e.agentCode;
  return undefined;
}

function actionFailed(
  vm: VmRow,
  action: VmAction,
  message: string,
  details: Record<string, unknown>,
  cause?: unknown,
) {
  return new VireoError(502, 'vm_action_failed', `${action} of VM ${vm.name} failed: ${message}`, {
    details: { vm_id: vm.id, action, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Drives one VM towards its desired state for one operation: decide (pure) → one agent call →
 * wait for the monitor to report → decide again, until done, failed or timed out. Level-triggered:
 * after an engine restart the resumed operation starts from whatever the monitor observed.
 */
export class VmController {
  private readonly log: Logger;

  constructor(private readonly opts: VmControllerOptions) {
    this.log = opts.log.child({ module: 'engine:vm-controller' });
  }

  async converge(
    vmId: string,
    action: VmAction,
    ctx: Pick<OperationContext, 'signal' | 'progress'>,
  ): Promise<{ state: string }> {
    const deadline = Date.now() + (this.opts.actionTimeoutMs ?? 180_000);
    const issued = new Set<VmAgentMethod>();
    for (;;) {
      ctx.signal.throwIfAborted();
      const vm = await findVm(this.opts.db, vmId);
      if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
      const connected = vm.host_id !== null && this.opts.hub.isConnected(vm.host_id);
      const step = decideVmStep({
        desired: vm.desired_state,
        observed: vm.state,
        action,
        actionDesired: ACTION_RULES[action].desired,
        connected,
        issued,
      });
      if (step.kind === 'done') return { state: vm.state };
      if (step.kind === 'fail') {
        if (step.reason === 'superseded') {
          throw new Conflict('vm_action_superseded', `a later action changed what VM ${vm.name} should be`, {
            details: { vm_id: vm.id, desired_state: vm.desired_state },
          });
        }
        throw actionFailed(vm, action, `the VM is ${vm.state} (${vm.state_reason})`, {
          state: vm.state,
          reason: vm.state_reason,
        });
      }
      if (Date.now() > deadline) {
        if (!connected)
          throw new Unavailable('host_not_connected', `the host of VM ${vm.name} is not connected`, {
            details: { vm_id: vm.id, host_id: vm.host_id },
          });
        throw actionFailed(vm, action, `still ${vm.state} after the time allowed`, { state: vm.state });
      }
      if (step.kind === 'call') {
        issued.add(step.method);
        // Not awaited: the write (which the runner coalesces and waits for before recording the
        // outcome) need not delay the agent call by a database round trip; in a burst of starts
        // that round trip waited for a pool connection too.
        void ctx.progress(0.3, `${step.method} on the host`).catch(() => undefined);
        await this.call(vm, action, step.method);
        continue;
      }
      await this.opts.monitor.waitForChange(vmId, 1000, ctx.signal);
    }
  }

  /** One agent call; its answer goes through the monitor (the only writer of observed state). */
  private async call(vm: VmRow, action: VmAction, method: VmAgentMethod): Promise<void> {
    const hostId = vm.host_id as string;
    const { hub, monitor } = this.opts;
    const log = this.log.child({ vmId: vm.id, hostId, method });
    try {
      if (method === 'vm.start') {
        const disks = ((await listVmDisks(this.opts.db, [vm.id])).get(vm.id) ?? []).filter((d) => d.active);
        const cdromDomain = await cdromDomainOf(this.opts.db, vm);
        const paths = cdromDomain ? { ...this.opts.paths, cdromDomain } : this.opts.paths;
        const secrets: Record<string, string> = {};
        const spec = buildVmSpec(vm, await this.resolveDisks(hostId, disks, secrets), paths);
        // After a preview/revert of a memory snapshot: resume its RAM instead of booting.
        const restore = await takeMemoryRestore(this.opts.db, vm.id, log);
        try {
          const { vm: info } = await hub.call(
            hostId,
            'vm.start',
            {
              spec,
              ...(Object.keys(secrets).length ? { secrets } : {}),
              ...(restore ? { restore_memory: { path: restore } } : {}),
            },
            { timeoutMs: 120_000 },
          );
          await monitor.observe(hostId, info);
        } catch (err) {
          // Already running there (a reply lost before a restart): adopt it, never start a second QEMU.
          if (agentCodeOf(err) !== 'vm_exists') throw err;
          log.info('the VM already runs on its host; adopting it');
          const { vm: info } = await hub.call(hostId, 'vm.get', { vm_id: vm.id });
          await monitor.observe(hostId, info);
        }
      } else if (method === 'vm.shutdown') {
        const timeout_s = this.opts.shutdownTimeoutS ?? 60;
        const res = await hub.call(
          hostId,
          'vm.shutdown',
          { vm_id: vm.id, timeout_s },
          { timeoutMs: (timeout_s + 30) * 1000 },
        );
        await monitor.observe(hostId, res.vm);
      } else if (method === 'vm.reboot') {
        const res = await hub.call(hostId, 'vm.reboot', { vm_id: vm.id }, { timeoutMs: 120_000 });
        await monitor.observe(hostId, res.vm);
      } else {
        const res = await hub.call(hostId, method, { vm_id: vm.id });
        await monitor.observe(hostId, res.vm);
      }
    } catch (err) {
      if (err instanceof VireoError && err.code === 'vm_action_failed') throw err;
      const agentCode = agentCodeOf(err);
      log.warn({ err, agentCode }, 'agent call failed');
      throw actionFailed(
        vm,
        action,
        err instanceof Error ? err.message : String(err),
        {
          method,
          agent_code: agentCode ?? (err instanceof VireoError ? err.code : null),
        },
        err,
      );
    }
  }

  /**
   * Each active disk as its active volume's path inside its storage domain. Volumes of a new VM's
   * disks are created here, on the host the VM first starts on (placement only picks hosts that
   * see every disk's domain).
   */
  private async resolveDisks(
    hostId: string,
    disks: VmDiskView[],
    secrets: Record<string, string>,
  ): Promise<VmDisk[]> {
    const domains = await domainsByIds(
      this.opts.db,
      disks.map((d) => d.storage_domain_id),
    );
    const out: VmDisk[] = [];
    for (const d of disks) {
      const domain = domains.get(d.storage_domain_id);
      if (!domain) throw new Error(`storage domain ${d.storage_domain_id} of disk ${d.id} vanished`);
      if (d.state !== 'ok') {
        throw new Conflict(
          d.state === 'locked' ? 'disk_locked' : 'disk_illegal',
          `disk ${d.name} is ${d.state}`,
          {
            details: { disk_id: d.id, state: d.state },
          },
        );
      }
      const key = this.opts.masterKey ? await diskKeyOf(this.opts.db, this.opts.masterKey, d.id) : undefined;
      if (key) secrets[diskSecretId(d.id)] = key;
      // A thin clone of an encrypted template: the base layers open with the template disk's key.
      const baseDisk = this.opts.masterKey ? await baseDiskOf(this.opts.db, d.id) : undefined;
      const baseKey =
        baseDisk && this.opts.masterKey
          ? await diskKeyOf(this.opts.db, this.opts.masterKey, baseDisk)
          : undefined;
      if (baseDisk && baseKey) secrets[diskSecretId(baseDisk)] = baseKey;
      if (!d.on_storage) {
        await createVolumeOn(
          this.opts.hub,
          hostId,
          domain.id,
          d,
          { id: d.volume_id, format: d.volume_format },
          key,
        );
        await setVolumeOnStorage(this.opts.db, d.volume_id);
      }
      const spec = vmDiskSpec(d, domain, key !== undefined);
      out.push(baseDisk && baseKey ? { ...spec, base_encryption_secret_id: diskSecretId(baseDisk) } : spec);
    }
    return out;
  }
}
