import type { DiskCache, VmDisk } from '@vireo/agent-protocol';
import type { BootIndexes } from './boot';
import type { BusAllocator } from './controllers';
import { invalidPlan } from './errors';
import { headed, type OptPair, opts } from './escape';
import { diskNodeNames } from './names';
import type { LaunchPlan } from './types';

/** How each cache mode maps onto block node flags and the device's write cache. */
const CACHE_MODES: Record<DiskCache, { direct: boolean; noFlush: boolean; writeCache: boolean }> = {
  none: { direct: true, noFlush: false, writeCache: true },
  writeback: { direct: false, noFlush: false, writeCache: true },
  writethrough: { direct: false, noFlush: false, writeCache: false },
  directsync: { direct: true, noFlush: false, writeCache: false },
  unsafe: { direct: false, noFlush: true, writeCache: true },
};

const DEVICE_DRIVER = { virtio: 'virtio-blk-pci', scsi: 'scsi-hd', ide: 'ide-hd', sata: 'ide-hd' } as const;

/**
 * Host block devices (LVM, iSCSI LUNs) need the `host_device` protocol driver; everything else is a
 * regular file.
 */
export function protocolDriver(path: string): 'file' | 'host_device' {
  return path.startsWith('/dev/') ? 'host_device' : 'file';
}

/**
 * `-object secret` for each encryption secret the disks use. Only the id and the path of a 0600
 * file the runtime wrote appear here; the value never does.
 */
export function secretArgs(plan: LaunchPlan): string[] {
  const ids = [
    ...new Set(plan.spec.disks.flatMap((d) => (d.encryption_secret_id ? [d.encryption_secret_id] : []))),
  ];
  const args: string[] = [];
  for (const id of ids) {
    const file = plan.secretFiles?.[id];
    if (!file) throw invalidPlan(`/secretFiles/${id}`, `no secret file for encryption secret "${id}"`);
    if (!file.startsWith('/')) throw invalidPlan(`/secretFiles/${id}`, 'secret file path must be absolute');
    args.push(
      '-object',
      headed('secret', ['id', id], ['format', 'raw'], ['file', file, `/secretFiles/${id}`]),
    );
  }
  return args;
}

/**
 * Two `-blockdev` nodes (protocol, then format, the driver always explicit so QEMU never probes an
 * image's format from its content) and one `-device` per disk.
 */
export function diskArgs(plan: LaunchPlan, buses: BusAllocator, boot: BootIndexes): string[] {
  const args: string[] = [];
  plan.spec.disks.forEach((disk, i) => {
    args.push(...diskBlockdevArgs(disk, i), '-device', diskDevice(disk, i, buses, boot));
  });
  return args;
}

function cacheFlags(disk: VmDisk): OptPair[] {
  if (!disk.cache) return [];
  const mode = CACHE_MODES[disk.cache];
  return [
    ['cache.direct', mode.direct],
    ['cache.no-flush', mode.noFlush],
  ];
}

function diskBlockdevArgs(disk: VmDisk, index: number): string[] {
  const names = diskNodeNames(disk.id);
  const common: OptPair[] = [['read-only', disk.readonly], ...cacheFlags(disk)];
  // Writable thin images give freed guest blocks back to the host.
  const discard: OptPair[] = disk.readonly ? [] : [['discard', 'unmap']];
  const encryption: OptPair[] = disk.encryption_secret_id
    ? [
        ['encrypt.format', 'luks'],
        ['encrypt.key-secret', disk.encryption_secret_id],
      ]
    : [];
  return [
    '-blockdev',
    opts(
      ['driver', protocolDriver(disk.path)],
      ['filename', disk.path, `/spec/disks/${index}/path`],
      ['node-name', names.file],
      ...common,
      ...discard,
    ),
    '-blockdev',
    opts(
      ['driver', disk.format],
      ['file', names.file],
      ['node-name', names.format],
      ...common,
      ...discard,
      ...encryption,
    ),
  ];
}

function diskDevice(disk: VmDisk, index: number, buses: BusAllocator, boot: BootIndexes): string {
  const names = diskNodeNames(disk.id);
  const placement =
    disk.interface === 'virtio' ? [] : buses.next(disk.interface, `/disks/${index}/interface`);
  return headed(
    DEVICE_DRIVER[disk.interface],
    ...placement,
    ['drive', names.format],
    ['id', names.device],
    ['serial', disk.serial],
    ['write-cache', disk.cache ? CACHE_MODES[disk.cache].writeCache : undefined],
    ['bootindex', boot.disks.get(disk.id)],
  );
}
