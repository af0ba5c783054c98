import type { VmAction } from '@vireo/api';

/** Agent methods the VM controller drives a VM with. */
export type VmAgentMethod = 'vm.start' | 'vm.shutdown' | 'vm.stop' | 'vm.pause' | 'vm.resume' | 'vm.reboot';

/** What the controller does next for one VM. */
export type VmStep =
  | { kind: 'done' }
  | { kind: 'wait' }
  | { kind: 'call'; method: VmAgentMethod }
  | { kind: 'fail'; reason: 'went_down' | 'superseded' };

export interface VmDecisionInput {
  desired: string;
  /** Observed state (monitor-written). */
  observed: string;
  /** The action whose operation is converging, and the desired state it wrote. */
  action: VmAction;
  actionDesired: string;
  /** Whether the host's agent is connected now. */
  connected: boolean;
  /** Methods this operation already called (each is issued at most once per operation). */
  issued: ReadonlySet<VmAgentMethod>;
}

/**
 * One level-triggered decision: desired vs observed → the next step. Pure and table-tested; the
 * caller performs the step, waits for the monitor to report, and asks again. Each agent call is
 * issued at most once per operation, so a lost reply never turns into a second QEMU (and the
 * agent answers `vm_exists` for a start it already did, which counts as success).
 */
export function decideVmStep(input: VmDecisionInput): VmStep {
  const { desired, observed, action, connected, issued } = input;
  // A later action changed what the VM should be: this operation no longer decides anything.
  if (desired !== input.actionDesired) return { kind: 'fail', reason: 'superseded' };
  if (!connected) return { kind: 'wait' };
  const once = (method: VmAgentMethod): VmStep =>
    issued.has(method) ? { kind: 'wait' } : { kind: 'call', method };

  if (desired === 'up') {
    if (action === 'reboot' && !issued.has('vm.reboot')) {
      return observed === 'up' ? { kind: 'call', method: 'vm.reboot' } : { kind: 'wait' };
    }
    switch (observed) {
      case 'up':
        return { kind: 'done' };
      case 'down':
        // Started once and down again: the guest or QEMU failed; do not loop on starting it.
        return issued.has('vm.start') || action === 'reboot'
          ? { kind: 'fail', reason: 'went_down' }
          : once('vm.start');
      case 'paused':
        return once('vm.resume');
      default:
        return { kind: 'wait' };
    }
  }
  if (desired === 'paused') {
    if (observed === 'paused') return { kind: 'done' };
    if (observed === 'up') return once('vm.pause');
    if (observed === 'down') return { kind: 'fail', reason: 'went_down' };
    return { kind: 'wait' };
  }
  // desired down
  switch (observed) {
    case 'down':
      return { kind: 'done' };
    case 'up':
    case 'paused':
    case 'starting':
      return once(action === 'stop' ? 'vm.stop' : 'vm.shutdown');
    case 'powering_down':
      return action === 'stop' ? once('vm.stop') : { kind: 'wait' };
    default:
      return { kind: 'wait' };
  }
}
