import type { VmSpec } from '@vireo/agent-protocol';
import { invalidSpec } from './errors';
import { headed, type OptPair } from './escape';
import { PC_AHCI_CONTROLLER_ID, SCSI_CONTROLLER_ID } from './names';

/** The storage buses a disk or CD-ROM can sit on. */
export type StorageBus = 'scsi' | 'ide' | 'sata';

/**
 * Hands out bus addresses for SCSI, IDE and SATA devices in spec order (disks first, then the
 * CD-ROM), so the same spec always yields the same guest-visible layout, which migration and the
 * guest's own device names depend on.
 */
export class BusAllocator {
  private scsiNext = 0;
  private ataNext = { ide: 0, sata: 0 };

  constructor(private readonly spec: VmSpec) {}

  /** Controllers to create before any device that uses them (virtio-scsi, and AHCI on `pc`). */
  controllerArgs(): string[] {
    const buses = new Set<StorageBus>();
    for (const disk of this.spec.disks) if (disk.interface !== 'virtio') buses.add(disk.interface);
    if (this.spec.cdrom) buses.add(this.spec.cdrom.interface);
    const args: string[] = [];
    if (buses.has('scsi')) args.push('-device', headed('virtio-scsi-pci', ['id', SCSI_CONTROLLER_ID]));
    if (buses.has('sata') && this.spec.machine === 'pc') {
      args.push('-device', headed('ich9-ahci', ['id', PC_AHCI_CONTROLLER_ID]));
    }
    return args;
  }

  /** Bus properties (`bus=…`, `unit=…` / `scsi-id=…`) for the next device on `bus`. */
  next(bus: StorageBus, where: string): OptPair[] {
    if (bus === 'scsi') {
      const id = this.scsiNext++;
      return [
        ['bus', `${SCSI_CONTROLLER_ID}.0`],
        ['channel', 0],
        ['scsi-id', id],
        ['lun', 0],
      ];
    }
    if (this.spec.machine === 'q35') {
      // ICH9 AHCI: six ports named ide.0…ide.5, one device each, for both `ide` and `sata`.
      const port = this.ataNext.ide++;
      if (port > 5) throw invalidSpec(where, 'no free port on the q35 AHCI controller');
      return [['bus', `ide.${port}`]];
    }
    if (bus === 'sata') {
      const port = this.ataNext.sata++;
      if (port > 5) throw invalidSpec(where, 'no free port on the SATA controller');
      return [['bus', `${PC_AHCI_CONTROLLER_ID}.${port}`]];
    }
    // PIIX IDE: two buses with a master and a slave each.
    const slot = this.ataNext.ide++;
    if (slot > 3) throw invalidSpec(where, 'no free IDE slot (pc has two buses of two)');
    return [
      ['bus', `ide.${slot >> 1}`],
      ['unit', slot & 1],
    ];
  }
}
