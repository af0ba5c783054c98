import type { VmSpec } from '@vireo/agent-protocol';

/** `bootindex` values, per device, derived from `boot_order`. */
export interface BootIndexes {
  cdrom?: number;
  /** Keyed by disk id. */
  disks: Map<string, number>;
  /** Keyed by NIC id. */
  nics: Map<string, number>;
}

/**
 * Turns `boot_order` into firmware boot indexes: `disk` is the bootable disk (or the first disk
 * when none is marked), `network` the first NIC. Devices not listed get no index and, with
 * `strict=on`, are never booted from, so a blank disk cannot shadow the installer CD.
 */
export function bootIndexes(spec: VmSpec): BootIndexes {
  const result: BootIndexes = { disks: new Map(), nics: new Map() };
  spec.boot_order.forEach((device, index) => {
    if (device === 'cdrom' && spec.cdrom) result.cdrom = index;
    if (device === 'disk') {
      const disk = spec.disks.find((d) => d.bootable) ?? spec.disks[0];
      if (disk) result.disks.set(disk.id, index);
    }
    if (device === 'network' && spec.nics[0]) result.nics.set(spec.nics[0].id, index);
  });
  return result;
}

/** `-boot strict=on`: boot only from the devices with a `bootindex`, in that order. */
export function bootArgs(): string[] {
  return ['-boot', 'strict=on'];
}
