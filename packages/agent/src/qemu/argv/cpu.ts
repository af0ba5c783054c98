import { invalidSpec } from './errors';
import { optValue, opts } from './escape';
import type { LaunchPlan } from './types';

/**
 * `-cpu` and `-smp`. `host` passes the host CPU through and only exists under KVM; asking for it under
 * TCG is a placement mistake upstream, reported rather than silently replaced by another model.
 */
export function cpuArgs(plan: LaunchPlan): string[] {
  const { cpu } = plan.spec;
  if (cpu.model === 'host' && plan.accel !== 'kvm') {
    throw invalidSpec('/cpu/model', 'CPU model "host" needs the kvm accelerator', { accel: plan.accel });
  }
  const vcpus = cpu.sockets * cpu.cores * cpu.threads;
  return [
    '-cpu',
    optValue(cpu.model, '/spec/cpu/model'),
    '-smp',
    // maxcpus = cpus: no CPU hot-plug, so the guest sees exactly the topology asked for.
    opts(
      ['cpus', vcpus],
      ['sockets', cpu.sockets],
      ['cores', cpu.cores],
      ['threads', cpu.threads],
      ['maxcpus', vcpus],
    ),
  ];
}

/** `-m`: the guest's RAM in MiB. */
export function memoryArgs(plan: LaunchPlan): string[] {
  return ['-m', opts(['size', `${plan.spec.memory_mib}M`])];
}
