/**
 * The OVF model Vireo reads and writes. One document describes one VM or one template with its
 * disks (flattened: one file per disk) and NICs. Field names follow the REST API (snake_case).
 */

export type OvfKind = 'vm' | 'template';
export type OvfDiskFormat = 'qcow2' | 'raw';
export type OvfDiskInterface = 'virtio' | 'scsi' | 'ide' | 'sata';
export type OvfNicModel = 'virtio' | 'e1000' | 'rtl8139';

export const OVF_OS_TYPES = ['other', 'other_linux', 'debian', 'ubuntu', 'rhel', 'windows'] as const;
export const OVF_BOOT_DEVICES = ['cdrom', 'disk', 'network'] as const;
export const OVF_DISK_INTERFACES: readonly OvfDiskInterface[] = ['virtio', 'scsi', 'ide', 'sata'];
export const OVF_NIC_MODELS: readonly OvfNicModel[] = ['virtio', 'e1000', 'rtl8139'];

/** Limits the parser enforces (an OVF comes from storage another system wrote: hostile). */
export const OVF_LIMITS = {
  maxBytes: 1024 * 1024,
  maxDepth: 32,
  maxElements: 5000,
  maxAttributes: 64,
  maxDisks: 16,
  maxNics: 8,
  maxCpus: 64,
  minMemoryMib: 16,
  maxMemoryMib: 1_048_576,
  /** 64 TiB, the largest disk the API creates (65536 GiB). */
  maxDiskBytes: 65536 * 1024 ** 3,
  maxDescription: 4096,
} as const;

/** One disk: a single flattened image stored at `href` relative to the OVF (`<disk_id>/<volume_id>`). */
export interface OvfDisk {
  disk_id: string;
  volume_id: string;
  name: string;
  description: string;
  /** Virtual size the guest sees. */
  size_bytes: number;
  format: OvfDiskFormat;
  interface: OvfDiskInterface;
  bootable: boolean;
  /** Guest order, 0–15, unique per document. */
  position: number;
  /** Size of the image file in the export (null when not known when the OVF was written). */
  file_bytes: number | null;
  /**
   * The disk was LUKS-encrypted where it was exported from (`vireo:encrypted`). The exported image
   * itself is plain (another engine cannot have the key); an import encrypts it again.
   */
  encrypted?: boolean;
}

export type OvfNic =
  | { type: 'user'; mac: string; model: OvfNicModel }
  | { type: 'bridge'; bridge: string; mac: string; model: OvfNicModel };

export type OvfCdrom = { storage_domain_id: string; file: string } | { image: string };

/** A VM or template without its disks and NICs. */
export interface OvfEntity {
  kind: OvfKind;
  id: string;
  name: string;
  description: string;
  cpus: number;
  memory_mib: number;
  os_type: (typeof OVF_OS_TYPES)[number];
  boot_order: (typeof OVF_BOOT_DEVICES)[number][];
  /** `serial`: a headless VM (no display devices); templates are always `vnc`. */
  console: 'vnc' | 'serial';
  cdrom: OvfCdrom | null;
  /** Templates only (null for VMs): the base template's id and this version's number. */
  template: { version_of: string | null; version_number: number } | null;
  /** RFC 3339; when the exported object was created (informative). */
  created_at: string | null;
}

/** What {@link parseOvf} returns and {@link writeOvf} writes. */
export interface OvfDocument extends OvfEntity {
  disks: OvfDisk[];
  nics: OvfNic[];
}

/** Relative path of a disk's image next to the OVF (also its member name inside an OVA). */
export function ovfDiskHref(disk: Pick<OvfDisk, 'disk_id' | 'volume_id'>): string {
  return `${disk.disk_id}/${disk.volume_id}`;
}
