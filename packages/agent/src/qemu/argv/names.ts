import { createHash } from 'node:crypto';

/**
 * QEMU names derived from spec ids. Other parts of the agent (hot-plug, snapshots, stats) address
 * devices and block nodes by these names, so they are part of the agent's contract with itself:
 * change them only with a migration plan for running VMs.
 */

/** Block node names are limited to 31 characters; UUID disk ids (36) do not fit, so hash them. */
function shortHash(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 16);
}

/** Node names of one disk: the format node devices attach to, and the protocol (file) node below it. */
export interface DiskNodeNames {
  /** Format node (`qcow2`/`raw`): what `-device drive=` and `query-block` refer to. */
  format: string;
  /** Protocol node (`file`/`host_device`) that opens the path. */
  file: string;
  /** qdev id of the guest device (`device_del`, `query-block` `qdev`). */
  device: string;
}

export function diskNodeNames(diskId: string): DiskNodeNames {
  const base = `d${shortHash(diskId)}`;
  return { format: base, file: `${base}-file`, device: `disk-${diskId}` };
}

/**
 * Node names of a volume that is not a disk's active layer when QEMU opens it (a backing layer at
 * start, an overlay a snapshot adds): derived from the volume's path, so a restarted agent finds the
 * same names again.
 */
export function volumeNodeNames(path: string): { format: string; file: string } {
  const h = shortHash(path);
  return { format: `v${h}`, file: `v${h}-file` };
}

/** qdev id of the (single) CD-ROM drive; `blockdev-change-medium` takes it as `id`. */
export const CDROM_DEVICE_ID = 'cdrom0';
/** Node names of the CD-ROM's initial medium (media inserted later over QMP get their own names). */
export const CDROM_NODE_NAMES = { format: 'cdrom0-media', file: 'cdrom0-file' } as const;

/** Netdev id and device id of one NIC. */
export function nicNames(nicId: string): { netdev: string; device: string } {
  return { netdev: `net-${nicId}`, device: `nic-${nicId}` };
}

/** The virtio-scsi controller's id; its bus is `${SCSI_CONTROLLER_ID}.0`. */
export const SCSI_CONTROLLER_ID = 'scsi0';
/** The extra AHCI controller a `pc` machine gets for SATA devices (q35 has one built in). */
export const PC_AHCI_CONTROLLER_ID = 'sata0';
/** Chardev id of the serial console. */
export const SERIAL_CHARDEV_ID = 'ser0';
/** Prefix of the empty PCIe root ports for hot-plug on q35: `hp0`, `hp1`… */
export const HOTPLUG_PORT_PREFIX = 'hp';
