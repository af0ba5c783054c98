import type { VmInfo, VmSpec, VmState, VmStateReason } from '@vireo/agent-protocol';
import type { QmpClient } from '../qemu/qmp';
import type { VmPaths } from './paths';
import type { RuntimeRecord } from './store';

/** States in which a QEMU process exists (and QMP should be connected). */
export const RUNNING_STATES: ReadonlySet<VmState> = new Set([
  'starting',
  'up',
  'paused',
  'powering_down',
  'crashed',
]);

/**
 * One VM this agent owns: its spec, what it observes, and the live QMP connection. Mutated only by
 * `VmRuntime` (under the VM's lock for actions, from QMP events for what the guest does itself).
 */
export class ManagedVm {
  spec: VmSpec | null;
  state: VmState = 'down';
  reason: VmStateReason = 'created';
  detail: string | undefined;
  /** Present while a QEMU process is believed to run for this VM. */
  runtime: RuntimeRecord | null = null;
  qmp: QmpClient | null = null;
  /**
   * Set before the agent makes QEMU exit (power off, destroy) or when the guest has shut down, so
   * the exit is reported with this reason instead of `crashed`.
   */
  exitReason: VmStateReason | null = null;
  /** A graceful reboot is under way: the guest's SHUTDOWN becomes a reset instead of an exit. */
  rebootPending: (() => void) | null = null;
  /** The clean-up after a QEMU exit, while it runs (several paths may notice the same exit). */
  finishing: Promise<void> | null = null;
  private downWaiters: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly paths: VmPaths,
    spec: VmSpec | null,
  ) {
    this.spec = spec;
  }

  get name(): string | null {
    return this.spec?.name ?? null;
  }

  get isRunning(): boolean {
    return RUNNING_STATES.has(this.state);
  }

  /** Resolves when the VM's QEMU has exited and the agent has cleaned up after it. */
  whenDown(): Promise<void> {
    if (!this.runtime && !this.isRunning) return Promise.resolve();
    return new Promise((resolve) => this.downWaiters.push(resolve));
  }

  /** Called by the runtime once the exit is fully processed. */
  notifyDown(): void {
    const waiters = this.downWaiters;
    this.downWaiters = [];
    for (const resolve of waiters) resolve();
  }

  info(): VmInfo {
    const vnc = this.runtime?.vnc;
    const running = this.isRunning && this.runtime !== null;
    return {
      id: this.id,
      name: this.name,
      state: this.state,
      reason: this.reason,
      ...(this.detail ? { detail: this.detail } : {}),
      pid: this.runtime?.pid ?? null,
      started_at: running ? (this.runtime?.started_at ?? null) : null,
      vnc:
        running && vnc
          ? { host: '127.0.0.1', port: 5900 + vnc.display, websocket_port: vnc.websocketPort }
          : null,
      serial:
        running && this.spec?.serial ? { socket: this.paths.serialSocket, log: this.paths.serialLog } : null,
    };
  }
}
