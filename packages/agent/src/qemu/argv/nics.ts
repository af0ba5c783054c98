import type { NicModel, VmNic } from '@vireo/agent-protocol';
import type { BootIndexes } from './boot';
import { headed } from './escape';
import { nicNames } from './names';
import type { LaunchPlan } from './types';

const NIC_DRIVER: Record<NicModel, string> = { virtio: 'virtio-net-pci', e1000: 'e1000', rtl8139: 'rtl8139' };

/**
 * One `-netdev` + `-device` per NIC. Taps are created (and bridged) by the agent beforehand, so QEMU
 * runs no helper scripts. NICs that do not network-boot get no option ROM: iPXE start-up costs boot
 * time (a lot under TCG) and attack surface for nothing.
 */
export function nicArgs(plan: LaunchPlan, boot: BootIndexes): string[] {
  const args: string[] = [];
  plan.spec.nics.forEach((nic, i) => {
    args.push('-netdev', netdev(nic, i), '-device', nicDevice(nic, boot));
  });
  return args;
}

function netdev(nic: VmNic, index: number): string {
  const { netdev } = nicNames(nic.id);
  if (nic.backend.type === 'user') return headed('user', ['id', netdev]);
  return headed(
    'tap',
    ['id', netdev],
    ['ifname', nic.backend.ifname, `/spec/nics/${index}/backend/ifname`],
    ['script', 'no'],
    ['downscript', 'no'],
  );
}

function nicDevice(nic: VmNic, boot: BootIndexes): string {
  const names = nicNames(nic.id);
  const bootindex = boot.nics.get(nic.id);
  return headed(
    NIC_DRIVER[nic.model],
    ['netdev', names.netdev],
    ['mac', nic.mac.toLowerCase()],
    ['id', names.device],
    ['bootindex', bootindex],
    ['romfile', bootindex === undefined ? '' : undefined],
  );
}
