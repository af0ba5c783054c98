import type { VM_DISK_INTERFACES, VmConsoleType } from '@vireo/api';

/** One new disk as typed in a disk row (wizard and the Disks tab share the row). */
export interface DiskRowValue {
  size_gib: string;
  format: 'qcow2' | 'raw';
  interface: (typeof VM_DISK_INTERFACES)[number];
  bootable: boolean;
  /** '' = the engine's default (the data center's first active data domain). */
  storage_domain_id: string;
  /** LUKS (qcow2 only); undefined = the engine's default (`GET /disks/defaults`), as the box shows. */
  encrypted?: boolean;
}

/** One NIC as typed in a NIC row: user-mode networking or a port on an existing Linux bridge. */
export interface NicRowValue {
  kind: 'user' | 'bridge';
  bridge: string;
  mac: string;
}

/** The create-VM wizard's state; `toSubmission` turns it into the API call. */
export interface VmForm {
  /** Blank hardware typed here, or a clone of a template (its hardware and disks). */
  source: 'blank' | 'template';
  template_id: string;
  clone: 'thin' | 'full';
  name: string;
  cluster_id: string;
  cpus: string;
  memory_mib: string;
  os_type: string;
  disks: DiskRowValue[];
  nics: NicRowValue[];
  /** '' = a file name in the engine's ISO directory (`cdrom.image`); else an ISO domain's id. */
  iso_domain_id: string;
  cdrom: string;
  boot_order: string;
  /** `serial` = headless: no display, USB or VNC (cheaper to run; the serial console is the way in). */
  console: VmConsoleType;
}

export const BOOT_ORDERS = ['cdrom,disk', 'disk', 'disk,cdrom', 'cdrom', 'network,disk'] as const;

export const newDiskRow = (): DiskRowValue => ({
  size_gib: '10',
  format: 'qcow2',
  interface: 'virtio',
  bootable: false,
  storage_domain_id: '',
});

export const newNicRow = (): NicRowValue => ({ kind: 'user', bridge: '', mac: '' });

export function emptyVmForm(clusterId = ''): VmForm {
  return {
    source: 'blank',
    template_id: '',
    clone: 'thin',
    name: '',
    cluster_id: clusterId,
    cpus: '1',
    memory_mib: '1024',
    os_type: 'other_linux',
    disks: [newDiskRow()],
    nics: [newNicRow()],
    iso_domain_id: '',
    cdrom: '',
    boot_order: 'cdrom,disk',
    console: 'vnc',
  };
}

/** A number as typed: the API validates it, so text that is not a number goes through as is. */
export function num(s: string): number | string {
  const t = s.trim();
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/** A disk row as `POST /vms`'s `disks[]` item. */
export function toDiskCreate(d: DiskRowValue): Record<string, unknown> {
  return {
    size_gib: num(d.size_gib),
    format: d.format,
    interface: d.interface,
    ...(d.bootable ? { bootable: true } : {}),
    ...(d.storage_domain_id ? { storage_domain_id: d.storage_domain_id } : {}),
    // Only a choice the user made is sent; a raw disk is never encrypted.
    ...(d.encrypted === undefined || d.format !== 'qcow2' ? {} : { encrypted: d.encrypted }),
  };
}

/** A NIC row as the API's NIC: `{type: "user"}` or `{bridge: "br0"}`, with the MAC when typed. */
export function toNic(n: NicRowValue): Record<string, unknown> {
  const mac = n.mac.trim() ? { mac: n.mac.trim() } : {};
  // The bridge name goes as typed (trimmed): the engine's pattern check gives the message.
  return n.kind === 'bridge' ? { bridge: n.bridge.trim(), ...mac } : { type: 'user', ...mac };
}

/** The CD-ROM: a file of an ISO domain, or (no domain chosen) a file in the ISO directory. */
export function toCdrom(f: Pick<VmForm, 'iso_domain_id' | 'cdrom'>): Record<string, string> | undefined {
  const file = f.cdrom.trim();
  if (!file) return undefined;
  return f.iso_domain_id ? { storage_domain_id: f.iso_domain_id, file } : { image: file };
}

/** The `POST /vms` body. Nothing is validated here: the engine's messages are the ones shown. */
export function toVmCreate(f: VmForm): Record<string, unknown> {
  const cdrom = toCdrom(f);
  return {
    name: f.name.trim(),
    cluster_id: f.cluster_id,
    cpus: num(f.cpus),
    memory_mib: num(f.memory_mib),
    os_type: f.os_type,
    boot_order: f.boot_order.split(','),
    ...(cdrom ? { cdrom } : {}),
    disks: f.disks.map(toDiskCreate),
    nics: f.nics.map(toNic),
    // `vnc` is the engine's default: sent only when the user chose otherwise.
    ...(f.console === 'vnc' ? {} : { console: f.console }),
  };
}

/** The request the wizard sends: a blank VM, or a thin/full clone of a template. */
export function toSubmission(f: VmForm): { path: string; body: Record<string, unknown> } {
  if (f.source === 'template') {
    return {
      path: `/templates/${encodeURIComponent(f.template_id)}/vms`,
      body: { name: f.name.trim(), clone: f.clone },
    };
  }
  return { path: '/vms', body: toVmCreate(f) };
}

/** Which wizard step shows a field (`disks.0.size_gib` → disks), to send the user to it. */
export function stepOfField(field: string): 'general' | 'disks' | 'nics' | 'boot' {
  const head = field.split('.')[0];
  if (head === 'disks') return 'disks';
  if (head === 'nics') return 'nics';
  if (head === 'cdrom' || head === 'boot_order') return 'boot';
  return 'general';
}
