import type { BootDevice, VmDisk, VmSpec } from '@vireo/agent-protocol';
import type { VmRow } from '../../db/tables/vms';
import { cdromPath } from '../storage/cdrom';
import type { DomainLocation } from '../storage/paths';

/** Where a host keeps what the engine asks for by name. */
export interface HostPaths {
  /** Directory of ISO images (`VIREO_ISO_DIR`); CD-ROM names resolve inside it. */
  isoDir: string;
  /** The agent's own image directory (all-in-one mode); disks live in storage domains. */
  imageDir: string;
  /** The ISO domain of the VM's CD-ROM, when its image is an ISO domain's file. */
  cdromDomain?: DomainLocation;
}

/**
 * The host tap of a VM's bridged NIC: `vt` + 12 hex digits of the VM id + the NIC's index, within
 * Linux's 15-character limit and stable across starts (a leftover tap is found, not duplicated).
 */
export function tapName(vmId: string, index: number): string {
  return `vt${vmId.replace(/-/g, '').slice(0, 12)}${index}`;
}

/**
 * The full VmSpec the agent starts, from the engine's rows. Pure: every reference is resolved to a
 * host path here so the agent never looks anything up. `disks` are the VM's active attachments,
 * already resolved to their active volumes (`vmDiskSpec`: `volumePath(domain, disk, volume)`).
 */
export function buildVmSpec(vm: VmRow, disks: VmDisk[], paths: HostPaths): VmSpec {
  return {
    id: vm.id,
    name: vm.name,
    machine: 'q35',
    // qemu64 runs under every accelerator (TCG included); cluster CPU models come with KVM hosts.
    cpu: { model: 'qemu64', sockets: 1, cores: vm.cpus, threads: 1 },
    memory_mib: vm.memory_mib,
    disks,
    // Always a drive, so media can be changed later without a restart.
    cdrom: {
      path: cdromPath(vm, paths.isoDir, paths.cdromDomain),
      interface: 'sata',
    },
    boot_order: vm.boot_order as BootDevice[],
    nics: vm.nics.map((n, i) => ({
      id: `nic${i}`,
      mac: n.mac,
      model: n.model ?? 'virtio',
      backend:
        n.type === 'bridge' ? { type: 'tap', ifname: tapName(vm.id, i), bridge: n.bridge } : { type: 'user' },
    })),
    display: { vnc: vm.console_type === 'vnc' },
    serial: true,
    os_type: vm.os_type,
  };
}
