import type { VmSpec } from '@vireo/agent-protocol';
import { invalidPlan } from './errors';
import { headed, opts } from './escape';
import { HOTPLUG_PORT_PREFIX } from './names';
import type { LaunchPlan } from './types';

/** Most empty hot-plug root ports a q35 VM gets; each costs a PCI slot and I/O window. */
export const MAX_HOTPLUG_PORTS = 8;

/**
 * `-accel` (exactly one: QEMU silently ignores a second) and `-machine`. The generic machine aliases
 * (`q35`, `pc`) resolve to the newest versioned type of the host's QEMU; migration peers must run
 * the same QEMU version (checked by the engine), so the alias is safe there.
 */
export function machineArgs(plan: LaunchPlan): string[] {
  // A 32 MiB translation cache instead of the default (up to 1 GiB) keeps idle TCG guests small.
  const accel = plan.accel === 'tcg' ? headed('tcg', ['tb-size', 32]) : 'kvm';
  return [
    '-accel',
    accel,
    '-machine',
    // A guest's memory in a host core dump would leak its data to whoever reads the dump.
    opts(['type', plan.spec.machine], ['dump-guest-core', false]),
  ];
}

/** Empty `pcie-root-port`s for later `device_add` (q35's root bus itself cannot hot-plug). */
export function hotplugPortArgs(plan: LaunchPlan): string[] {
  const count = plan.hotplugPorts ?? 0;
  if (!Number.isInteger(count) || count < 0 || count > MAX_HOTPLUG_PORTS) {
    throw invalidPlan('/hotplugPorts', `hotplugPorts must be an integer from 0 to ${MAX_HOTPLUG_PORTS}`);
  }
  if (count > 0 && plan.spec.machine !== 'q35') {
    throw invalidPlan('/hotplugPorts', 'hot-plug ports are a q35 feature (pc hot-plugs on its root bus)');
  }
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    args.push(
      '-device',
      headed('pcie-root-port', ['id', `${HOTPLUG_PORT_PREFIX}${i}`], ['bus', 'pcie.0'], ['chassis', i + 1]),
    );
  }
  return args;
}

/** PCI root bus name of a machine type. */
export function rootBus(spec: VmSpec): string {
  return spec.machine === 'q35' ? 'pcie.0' : 'pci.0';
}
