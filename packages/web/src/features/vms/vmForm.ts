import type { VM_DISK_INTERFACES } from '@vireo/api';

/** The create-VM wizard's state; `toVmCreate` turns it into the API's body. */
export interface VmForm {
  name: string;
  cluster_id: string;
  cpus: string;
  memory_mib: string;
  os_type: string;
  disks: {
    size_gib: string;
    format: 'qcow2' | 'raw';
    interface: (typeof VM_DISK_INTERFACES)[number];
    bootable: boolean;
  }[];
  nics: { mac: string }[];
  cdrom: string;
  boot_order: string;
}

export const BOOT_ORDERS = ['cdrom,disk', 'disk', 'disk,cdrom', 'cdrom', 'network,disk'] as const;

export function emptyVmForm(clusterId = ''): VmForm {
  return {
    name: '',
    cluster_id: clusterId,
    cpus: '1',
    memory_mib: '1024',
    os_type: 'other_linux',
    disks: [{ size_gib: '10', format: 'qcow2', interface: 'virtio', bootable: false }],
    nics: [{ mac: '' }],
    cdrom: '',
    boot_order: 'cdrom,disk',
  };
}

/** A number as typed: the API validates it, so text that is not a number goes through as is. */
function num(s: string): number | string {
  const t = s.trim();
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/** The `POST /vms` body. Nothing is validated here: the engine's messages are the ones shown. */
export function toVmCreate(f: VmForm): Record<string, unknown> {
  return {
    name: f.name.trim(),
    cluster_id: f.cluster_id,
    cpus: num(f.cpus),
    memory_mib: num(f.memory_mib),
    os_type: f.os_type,
    boot_order: f.boot_order.split(','),
    ...(f.cdrom.trim() ? { cdrom: { image: f.cdrom.trim() } } : {}),
    disks: f.disks.map((d) => ({
      size_gib: num(d.size_gib),
      format: d.format,
      interface: d.interface,
      ...(d.bootable ? { bootable: true } : {}),
    })),
    nics: f.nics.map((n) => ({ type: 'user', ...(n.mac.trim() ? { mac: n.mac.trim() } : {}) })),
  };
}

/** Which wizard step shows a field (`disks.0.size_gib` → disks), to send the user to it. */
export function stepOfField(field: string): 'general' | 'disks' | 'nics' | 'boot' {
  const head = field.split('.')[0];
  if (head === 'disks') return 'disks';
  if (head === 'nics') return 'nics';
  if (head === 'cdrom' || head === 'boot_order') return 'boot';
  return 'general';
}
