import { rm } from 'node:fs/promises';
import type { VmInfo } from '@vireo/agent-protocol';
import { isOwnedQemu } from '../qemu/process/proc';
import { AgentError } from '../util/errors';
import { damaged, type VmRuntime } from './runtime';
import type { ManagedVm } from './vm';

/** Resolves `true` when `promise` settles first, `false` after `ms`; rejects if `signal` aborts. */
async function within(promise: Promise<unknown>, ms: number, signal: AbortSignal): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
      new Promise<boolean>((_, reject) => {
        onAbort = () =>
          reject(new AgentError('action_cancelled', String(signal.reason?.message ?? signal.reason)));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * ACPI power button, then wait for the guest to power off; after `timeoutS` the VM is powered off.
 * A paused guest cannot react to ACPI, so it is powered off at once (`forced`). A VM already down
 * is fine (the engine's controllers repeat actions; repeating one must be harmless).
 */
export async function shutdownLocked(
  rt: VmRuntime,
  vm: ManagedVm,
  timeoutS: number,
  signal: AbortSignal,
): Promise<{ vm: VmInfo; forced: boolean }> {
  if (vm.state === 'down') return { vm: vm.info(), forced: false };
  rt.requireState(vm, ['up', 'paused', 'powering_down', 'crashed'], 'shut down');
  const qmp = rt.requireQmp(vm);
  const down = vm.whenDown();
  if (vm.state === 'up' || vm.state === 'powering_down') {
    await qmp.execute('system_powerdown');
    rt.transition(vm, 'powering_down', 'powerdown_requested');
    if (await within(down, timeoutS * 1000, signal)) return { vm: vm.info(), forced: false };
    rt.log.info({ vm_id: vm.id, timeout_s: timeoutS }, 'guest did not power off in time; powering off');
  }
  await rt.powerOffLocked(vm);
  return { vm: vm.info(), forced: true };
}

/** Power off now. */
export async function stopLocked(rt: VmRuntime, vm: ManagedVm): Promise<VmInfo> {
  if (vm.state === 'damaged') throw damaged(vm);
  if (vm.state === 'down') return vm.info();
  await rt.powerOffLocked(vm);
  return vm.info();
}

/**
 * A graceful reboot, the way libvirt does it on QEMU: ACPI power button; when the guest has shut
 * down (QEMU stays, `-no-shutdown`) reset it and let it run again. A guest that ignores ACPI gets a
 * hard reset after `timeoutS`.
 */
export async function rebootLocked(
  rt: VmRuntime,
  vm: ManagedVm,
  timeoutS: number,
  signal: AbortSignal,
): Promise<VmInfo> {
  rt.requireState(vm, ['up'], 'reboot');
  const qmp = rt.requireQmp(vm);
  const guestDown = new Promise<void>((resolve) => {
    vm.rebootPending = resolve;
  });
  // rebootPending stays set until the guest runs again: the SHUTDOWN and STOP events of the
  // guest's power-off must not be read as an exit.
  try {
    await qmp.execute('system_powerdown');
    const graceful = await within(guestDown, timeoutS * 1000, signal);
    if (!graceful) rt.log.info({ vm_id: vm.id }, 'guest ignored the ACPI power button; resetting');
    await qmp.execute('system_reset');
    const status = await qmp.execute('query-status');
    if (!status.running) await qmp.execute('cont');
  } finally {
    vm.rebootPending = null;
  }
  rt.transition(vm, 'up', 'rebooted');
  return vm.info();
}

/** Hard reset (the reset button): the guest gets no warning. */
export async function resetLocked(rt: VmRuntime, vm: ManagedVm): Promise<VmInfo> {
  rt.requireState(vm, ['up', 'paused', 'powering_down', 'crashed'], 'reset');
  await rt.requireQmp(vm).execute('system_reset');
  if (vm.state === 'crashed' || vm.state === 'powering_down') {
    const status = await rt.requireQmp(vm).execute('query-status');
    if (!status.running) await rt.requireQmp(vm).execute('cont');
    rt.transition(vm, 'up', 'reset');
  } else {
    rt.transition(vm, vm.state, 'reset');
  }
  return vm.info();
}

export async function pauseLocked(rt: VmRuntime, vm: ManagedVm): Promise<VmInfo> {
  if (vm.state === 'paused') return vm.info();
  rt.requireState(vm, ['up'], 'pause');
  await rt.requireQmp(vm).execute('stop');
  rt.transition(vm, 'paused', 'paused');
  return vm.info();
}

export async function resumeLocked(rt: VmRuntime, vm: ManagedVm): Promise<VmInfo> {
  if (vm.state === 'up') return vm.info();
  rt.requireState(vm, ['paused'], 'resume');
  await rt.requireQmp(vm).execute('cont');
  rt.transition(vm, 'up', 'resumed');
  return vm.info();
}

/**
 * Power off if running, then forget the VM: its state directory goes, its disks stay. A damaged VM
 * whose QEMU still lives is refused: the agent cannot be sure what it would be killing.
 */
export async function destroyLocked(rt: VmRuntime, vm: ManagedVm): Promise<void> {
  if (vm.state === 'damaged') {
    const pid = vm.runtime?.pid;
    if (pid !== undefined && (await isOwnedQemu(pid, vm.id))) throw damaged(vm);
    vm.runtime = null;
  }
  if (vm.runtime) await rt.powerOffLocked(vm);
  await rm(vm.paths.dir, { recursive: true, force: true });
  rt.vms.delete(vm.id);
  rt.transition(vm, 'down', 'destroyed');
}
