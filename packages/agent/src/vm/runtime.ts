import { rm } from 'node:fs/promises';
import type {
  AgentEventName,
  AgentEventParams,
  ExternalVm,
  VmConsoleParams,
  VmConsoleResult,
  VmDisk,
  VmInfo,
  VmSpec,
  VmState,
  VmStateReason,
  VmStatsSample,
} from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { isProcessRunning, scanQemuProcesses, waitForExit } from '../qemu/process/proc';
import { killQemu } from '../qemu/process/spawn';
import { QmpClient, type QmpEvent } from '../qemu/qmp';
import { AgentError } from '../util/errors';
import { KeyedLock } from '../util/keyed-lock';
import { consoleFor } from './console';
import { attachDiskLocked, changeCdLocked, detachDiskLocked } from './devices';
import { ImagePolicy } from './images';
import { startVmLocked } from './launch';
import type { AgentConfig } from '../config';
import * as lifecycle from './lifecycle';
import { PortAllocator } from './ports';
import { sampleVm } from './stats';
import type { RuntimeRecord } from './store';
import { removeTap } from './taps';
import type { ManagedVm } from './vm';

/** Host-side settings of the VM runtime: the agent's config, with the accelerator resolved. */
export type RuntimeConfig = Pick<
  AgentConfig,
  | 'stateDir'
  | 'qemuBinary'
  | 'imageDirs'
  | 'allowBlockDevices'
  | 'vncPorts'
  | 'vncWebsocketPorts'
  | 'hotplugPorts'
  | 'sandbox'
  | 'shutdownTimeoutS'
  | 'sealDir'
> & {
  /** Written into each VM's `owner` marker; recovery only adopts directories with this id. */
  agentId: string;
  accel: 'kvm' | 'tcg';
};

/** Where the runtime sends events (the RPC server's current event receiver). */
export type EventSink = <E extends AgentEventName>(event: E, params: AgentEventParams<E>) => void;

/**
 * The VMs this agent owns and everything done to them. Actions that change a VM take its lock
 * (one at a time per VM; a second gets `vm_busy`, except that `vm.stop`/`vm.destroy` cancel a
 * graceful shutdown or reboot still waiting for the guest). What the guest does on its own (power
 * off, reboot, crash) arrives as QMP events and is turned into state transitions here.
 */
export class VmRuntime {
  readonly vms = new Map<string, ManagedVm>();
  readonly lock = new KeyedLock(
    (key, holder, wanted) =>
      new AgentError('vm_busy', `VM ${key} is busy with ${holder}`, {
        details: { vm_id: key, action: holder, wanted },
      }),
  );
  readonly ports = new PortAllocator();
  readonly images: ImagePolicy;
  private closed = false;

  constructor(
    readonly cfg: RuntimeConfig,
    readonly emit: EventSink,
    readonly log: Logger,
  ) {
    this.images = new ImagePolicy(cfg.imageDirs, cfg.allowBlockDevices);
  }

  // ---- queries ----

  list(): VmInfo[] {
    return [...this.vms.values()]
      .map((vm) => vm.info())
      .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
  }

  /** The VM, or `vm_not_found`. */
  get(id: string): ManagedVm {
    const vm = this.vms.get(id.toLowerCase());
    if (!vm) throw new AgentError('vm_not_found', `no VM ${id} on this host`, { details: { vm_id: id } });
    return vm;
  }

  /** `qemu-system-*` processes on the host that are not one of this agent's VMs. */
  async listExternal(): Promise<ExternalVm[]> {
    const ours = new Set<number>();
    for (const vm of this.vms.values()) if (vm.runtime) ours.add(vm.runtime.pid);
    const all = await scanQemuProcesses();
    return all
      .filter((p) => !ours.has(p.pid) && !(p.uuid && this.vms.get(p.uuid)?.runtime?.pid === p.pid))
      .map((p) => ({ pid: p.pid, binary: p.binary, name: p.name, uuid: p.uuid }));
  }

  // ---- actions ----

  /** Creates (or re-creates a `down` VM) and starts it; resolves once the guest runs. */
  start(
    spec: VmSpec,
    options: {
      console?: { password: string; valid_s: number };
      paused?: boolean;
      /** Disk keys by `encryption_secret_id` (base64). */
      secrets?: Record<string, string>;
      /** Resume from this saved memory state instead of booting. */
      restoreMemory?: string;
    } = {},
  ): Promise<VmInfo> {
    const id = spec.id.toLowerCase();
    return this.lock.run(id, 'vm.start', () =>
      startVmLocked(
        this,
        { ...spec, id },
        options.console,
        options.paused,
        options.secrets,
        options.restoreMemory,
      ),
    );
  }

  shutdown(id: string, timeoutS?: number): Promise<{ vm: VmInfo; forced: boolean }> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.shutdown', (signal) =>
      lifecycle.shutdownLocked(this, vm, timeoutS ?? this.cfg.shutdownTimeoutS, signal),
    );
  }

  stop(id: string): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.stop', () => lifecycle.stopLocked(this, vm), {
      preempts: ['vm.shutdown', 'vm.reboot'],
    });
  }

  reboot(id: string, timeoutS?: number): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.reboot', (signal) =>
      lifecycle.rebootLocked(this, vm, timeoutS ?? this.cfg.shutdownTimeoutS, signal),
    );
  }

  reset(id: string): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.reset', () => lifecycle.resetLocked(this, vm));
  }

  pause(id: string): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.pause', () => lifecycle.pauseLocked(this, vm));
  }

  resume(id: string): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.resume', () => lifecycle.resumeLocked(this, vm));
  }

  destroy(id: string): Promise<void> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.destroy', () => lifecycle.destroyLocked(this, vm), {
      preempts: ['vm.shutdown', 'vm.reboot'],
    });
  }

  /** Console access. Takes no lock: a console must open while a long shutdown is under way. */
  console(params: VmConsoleParams): Promise<VmConsoleResult> {
    return consoleFor(this, this.get(params.vm_id), params);
  }

  changeCd(id: string, path: string | null): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.change_cd', () => changeCdLocked(this, vm, path));
  }

  attachDisk(id: string, disk: VmDisk, secrets: Record<string, string> = {}): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.attach_disk', () => attachDiskLocked(this, vm, disk, secrets));
  }

  detachDisk(id: string, diskId: string): Promise<VmInfo> {
    const vm = this.get(id);
    return this.lock.run(vm.id, 'vm.detach_disk', () => detachDiskLocked(this, vm, diskId));
  }

  /** One stats sample per running VM (for the `vm.stats` event). */
  async sampleStats(): Promise<VmStatsSample[]> {
    const running = [...this.vms.values()].filter((vm) => vm.runtime && vm.isRunning);
    const samples = await Promise.all(running.map((vm) => sampleVm(vm).catch(() => undefined)));
    return samples.filter((s): s is VmStatsSample => s !== undefined);
  }

  /**
   * Lets go of every VM without touching it: QMP connections close, QEMUs keep running and the next
   * agent re-adopts them.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.vms.values()].map(async (vm) => {
        const qmp = vm.qmp;
        vm.qmp = null;
        await qmp?.close();
      }),
    );
  }

  // ---- used by the action modules and recovery ----

  /** Records a transition and tells the event receiver. Repeating the current state+reason is a no-op. */
  transition(vm: ManagedVm, state: VmState, reason: VmStateReason, detail?: string): void {
    if (vm.state === state && vm.reason === reason && vm.detail === detail) return;
    vm.state = state;
    vm.reason = reason;
    vm.detail = detail;
    this.log.info({ vm_id: vm.id, vm: vm.name, state, reason, detail }, 'VM state');
    this.emit('vm.state', {
      vm_id: vm.id,
      state,
      reason,
      ...(detail ? { detail } : {}),
      at: new Date().toISOString(),
    });
  }

  /** The VM's QMP connection, or an error saying why there is none. */
  requireQmp(vm: ManagedVm): QmpClient {
    if (vm.state === 'damaged') throw damaged(vm);
    if (!vm.qmp || vm.qmp.isClosed) {
      throw new AgentError('invalid_vm_state', `VM ${vm.name ?? vm.id} is not running`, {
        details: { vm_id: vm.id, state: vm.state },
      });
    }
    return vm.qmp;
  }

  /** Fails unless the VM is in one of `states`. */
  requireState(vm: ManagedVm, states: readonly VmState[], action: string): void {
    if (vm.state === 'damaged') throw damaged(vm);
    if (!states.includes(vm.state)) {
      throw new AgentError(
        'invalid_vm_state',
        `cannot ${action} VM ${vm.name ?? vm.id} while it is ${vm.state}`,
        {
          details: { vm_id: vm.id, state: vm.state },
        },
      );
    }
  }

  /** Starts watching a VM's QMP connection: its events and its end. */
  attachQmp(vm: ManagedVm, qmp: QmpClient): void {
    vm.qmp = qmp;
    qmp.on('event', (event) => this.onQmpEvent(vm, qmp, event));
    qmp.on('close', (error) => {
      void this.onQmpClosed(vm, qmp, error).catch((err) =>
        this.log.error({ err, vm_id: vm.id }, 'handling the end of a QMP connection failed'),
      );
    });
  }

  /**
   * Mirrors QEMU's run state: after (re)connecting, when events may have been missed (`recovered`
   * names the transition after an agent restart), and after a `STOP` event, whose cause only
   * `query-status` tells.
   */
  async syncState(vm: ManagedVm, recovered = false): Promise<void> {
    const qmp = this.requireQmp(vm);
    const status = await qmp.execute('query-status');
    switch (status.status) {
      case 'running':
        this.transition(vm, 'up', recovered ? 'recovered' : vm.state === 'up' ? vm.reason : 'resumed');
        return;
      case 'shutdown':
        if (vm.rebootPending) return;
        // The guest powered off while nobody listened (-no-shutdown keeps QEMU around): finish it.
        vm.exitReason ??= 'guest_shutdown';
        void qmp.execute('quit').catch(() => undefined);
        return;
      case 'guest-panicked':
      case 'internal-error':
        this.transition(vm, 'crashed', 'guest_panicked', `QEMU status ${status.status}`);
        return;
      case 'io-error':
        this.transition(vm, 'paused', 'paused_io_error');
        return;
      default:
        this.transition(vm, 'paused', recovered ? 'recovered' : 'paused');
    }
  }

  /**
   * Ends a VM's QEMU: `quit` over QMP, SIGTERM/SIGKILL by verified PID when that does not work, then
   * the usual clean-up. Expects the VM's lock.
   */
  async powerOffLocked(vm: ManagedVm, reason: VmStateReason = 'powered_off'): Promise<void> {
    const record = vm.runtime;
    if (!record) return;
    vm.exitReason ??= reason;
    if (vm.qmp && !vm.qmp.isClosed)
      await vm.qmp.execute('quit', undefined, { timeoutMs: 3000 }).catch(() => undefined);
    if (!(await waitForExit(record.pid, 5000))) await killQemu(record.pid, vm.id, 2000);
    await this.finishExit(vm);
  }

  /** Clean-up after QEMU exited: taps it got, ports, runtime files; then `down`. Runs once per exit. */
  finishExit(vm: ManagedVm, detail?: string): Promise<void> {
    vm.finishing ??= this.doFinishExit(vm, detail).finally(() => {
      vm.finishing = null;
    });
    return vm.finishing;
  }

  releaseRecord(record: RuntimeRecord): void {
    if (record.vnc) {
      this.ports.release(5900 + record.vnc.display);
      this.ports.release(record.vnc.websocketPort);
    }
  }

  reserveRecord(record: RuntimeRecord): void {
    if (record.vnc) {
      this.ports.reserve(5900 + record.vnc.display);
      this.ports.reserve(record.vnc.websocketPort);
    }
  }

  private async doFinishExit(vm: ManagedVm, detail?: string): Promise<void> {
    const record = vm.runtime;
    const reason = vm.exitReason ?? 'crashed';
    const qmp = vm.qmp;
    vm.qmp = null;
    await qmp?.close();
    if (record) {
      for (const tap of record.created_taps) {
        await removeTap(tap).catch((err) => this.log.warn({ err, vm_id: vm.id, tap }, 'removing tap failed'));
      }
      this.releaseRecord(record);
    }
    const p = vm.paths;
    await Promise.all(
      [p.pidfile, p.runtime, p.qmpSocket, p.serialSocket].map((f) =>
        rm(f, { force: true }).catch(() => undefined),
      ),
    );
    vm.runtime = null;
    vm.exitReason = null;
    vm.rebootPending = null;
    this.transition(
      vm,
      'down',
      reason,
      reason === 'crashed' ? (detail ?? 'QEMU exited unexpectedly') : detail,
    );
    vm.notifyDown();
  }

  private onQmpEvent(vm: ManagedVm, qmp: QmpClient, event: QmpEvent): void {
    if (vm.qmp !== qmp) return;
    const data = event.data ?? {};
    switch (event.event) {
      case 'SHUTDOWN': {
        if (vm.rebootPending) {
          vm.rebootPending();
          return;
        }
        vm.exitReason ??= data.guest === true ? 'guest_shutdown' : 'powered_off';
        // -no-shutdown keeps QEMU alive after the guest powers off: end it, the exit does the rest.
        void qmp.execute('quit').catch(() => undefined);
        return;
      }
      case 'POWERDOWN':
        if (vm.state === 'up') this.transition(vm, 'powering_down', 'powerdown_requested');
        return;
      case 'STOP':
        if (vm.exitReason || vm.rebootPending || vm.state === 'starting') return;
        void this.syncState(vm).catch(() => undefined);
        return;
      case 'RESUME':
        if (vm.state === 'paused' || vm.state === 'crashed') this.transition(vm, 'up', 'resumed');
        return;
      case 'RESET':
        if (data.guest === true && vm.state === 'up') {
          // The same state with a new reason: the engine learns the guest rebooted itself.
          this.transition(vm, 'up', 'rebooted');
        }
        return;
      case 'GUEST_PANICKED':
        this.transition(vm, 'crashed', 'guest_panicked');
        return;
      default:
    }
  }

  private async onQmpClosed(vm: ManagedVm, qmp: QmpClient, error: unknown): Promise<void> {
    if (vm.qmp !== qmp) return;
    vm.qmp = null;
    // A deliberate close (agent shutting down, a start being reverted) is not an exit.
    if (error === undefined || this.closed || vm.state === 'starting') return;
    const record = vm.runtime;
    if (!record) return;
    if (await waitForExit(record.pid, 5000)) {
      await this.finishExit(vm);
      return;
    }
    // The socket closed but QEMU lives: reconnect once, else the VM can no longer be managed.
    try {
      const again = await QmpClient.connect(vm.paths.qmpSocket, { timeoutMs: 3000 });
      this.attachQmp(vm, again);
      await this.syncState(vm);
    } catch (err) {
      if (!(await isProcessRunning(record.pid))) {
        await this.finishExit(vm);
        return;
      }
      this.log.error({ err, vm_id: vm.id, pid: record.pid }, 'QMP lost while QEMU still runs');
      this.transition(vm, 'damaged', 'damaged', 'QMP connection lost while QEMU still runs');
    }
  }
}

export function damaged(vm: ManagedVm): AgentError {
  return new AgentError(
    'vm_damaged',
    `VM ${vm.name ?? vm.id} is damaged: ${vm.detail ?? 'state directory unusable'}`,
    {
      details: { vm_id: vm.id, detail: vm.detail },
    },
  );
}
