import { join } from 'node:path';
import type { BootDevice, DiskFormat, DiskInterface, VmSpec } from '@vireo/agent-protocol';
import type { VmDiskRow, VmRow } from '../../db/tables/vms';

/** Where a host keeps what the engine asks for by name. */
export interface HostPaths {
  /** Directory of ISO images (`VIREO_ISO_DIR`); CD-ROM names resolve inside it. */
  isoDir: string;
  /** Directory on the host's local storage where new blank disks are created. */
  imageDir: string;
}

/**
 * Where a VM's disk image lives on its host. Flat (`<vm>-<disk>.<format>`) because the agent creates
 * files only inside its existing image directories, never new subdirectories.
 */
export function diskPath(paths: HostPaths, vmId: string, disk: Pick<VmDiskRow, 'id' | 'format'>): string {
  return join(paths.imageDir, `${vmId}-${disk.id}.${disk.format}`);
}

/**
 * The full VmSpec the agent starts, from the engine's rows. Pure: every reference is resolved to a
 * host path here so the agent never looks anything up. Disks without a path yet get the path they
 * are created at (the controller creates them before it starts the VM).
 */
export function buildVmSpec(vm: VmRow, disks: VmDiskRow[], paths: HostPaths): VmSpec {
  return {
    id: vm.id,
    name: vm.name,
    machine: 'q35',
    // qemu64 runs under every accelerator (TCG included); cluster CPU models come with KVM hosts.
    cpu: { model: 'qemu64', sockets: 1, cores: vm.cpus, threads: 1 },
    memory_mib: vm.memory_mib,
    disks: disks.map((d) => ({
      id: d.id,
      path: d.path ?? diskPath(paths, vm.id, d),
      format: d.format as DiskFormat,
      interface: d.interface as DiskInterface,
      bootable: d.bootable,
      readonly: false,
    })),
    // Always a drive, so media can be changed later without a restart.
    cdrom: {
      path: vm.cdrom_image === null ? null : join(paths.isoDir, vm.cdrom_image),
      interface: 'sata',
    },
    boot_order: vm.boot_order as BootDevice[],
    nics: vm.nics.map((n, i) => ({
      id: `nic${i}`,
      mac: n.mac,
      model: 'virtio',
      backend: { type: 'user' },
    })),
    display: { vnc: vm.console_type === 'vnc' },
    serial: true,
    os_type: vm.os_type,
  };
}
