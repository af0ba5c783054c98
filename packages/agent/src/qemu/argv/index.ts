import { bootArgs, bootIndexes } from './boot';
import { cdromArgs } from './cdrom';
import { BusAllocator } from './controllers';
import { cpuArgs, memoryArgs } from './cpu';
import { displayArgs } from './display';
import { diskArgs, secretArgs } from './drives';
import { invalidPlan } from './errors';
import { assertPrintable } from './escape';
import { kernelArgs } from './kernel';
import { hotplugPortArgs, machineArgs } from './machine';
import { clockArgs, identityArgs, incomingArgs, processArgs, rngArgs } from './misc';
import { nicArgs } from './nics';
import { qmpArgs } from './qmp';
import { serialArgs } from './serial';
import type { LaunchPlan } from './types';
import { validateVmSpec } from './validate';

export { ArgvError, type ArgvErrorCode } from './errors';
export { SANDBOX_DAEMONIZED, SANDBOX_FULL } from './misc';
export {
  CDROM_DEVICE_ID,
  CDROM_NODE_NAMES,
  type DiskNodeNames,
  diskNodeNames,
  HOTPLUG_PORT_PREFIX,
  nicNames,
  SCSI_CONTROLLER_ID,
  SERIAL_CHARDEV_ID,
  volumeNodeNames,
} from './names';
export { diskSecretIds, type LayerNodes, layerNodes } from './drives';
export type { DiskChainLayer, LaunchPaths, LaunchPlan, VncListen } from './types';
export { MAX_VCPUS, validateVmSpec } from './validate';

/**
 * Builds the `qemu-system-x86_64` argument vector (without the binary) for one launch. Pure and
 * deterministic: the same plan always gives the same argv, which the golden tests pin down.
 *
 * The spec is re-validated (`validateVmSpec`), every path and name is escaped for QEMU's option
 * syntax, control characters are refused, and no secret value can appear (only secret ids and the
 * paths of 0600 files). Throws `ArgvError` (`invalid_vm_spec` / `invalid_launch_plan`).
 */
export function buildQemuArgv(plan: LaunchPlan): string[] {
  validateVmSpec(plan.spec);
  checkPlan(plan);
  const boot = bootIndexes(plan.spec);
  const buses = new BusAllocator(plan.spec);
  return [
    ...identityArgs(plan),
    ...processArgs(plan),
    ...machineArgs(plan),
    ...cpuArgs(plan),
    ...memoryArgs(plan),
    ...clockArgs(plan),
    ...bootArgs(),
    ...qmpArgs(plan),
    ...displayArgs(plan),
    ...serialArgs(plan),
    ...hotplugPortArgs(plan),
    ...secretArgs(plan),
    ...buses.controllerArgs(),
    ...diskArgs(plan, buses, boot),
    ...cdromArgs(plan, buses, boot),
    ...nicArgs(plan, boot),
    ...rngArgs(),
    ...kernelArgs(plan),
    ...incomingArgs(plan),
  ];
}

function checkPlan(plan: LaunchPlan): void {
  if (plan.accel !== 'kvm' && plan.accel !== 'tcg') {
    throw invalidPlan('/accel', 'accel must be "kvm" or "tcg"');
  }
  for (const [key, path] of Object.entries(plan.paths)) {
    if (path === undefined) continue;
    assertPrintable(path, `/paths/${key}`);
    if (!path.startsWith('/')) throw invalidPlan(`/paths/${key}`, `${key} must be an absolute path`);
  }
}
