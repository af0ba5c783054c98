import type { DiskCache, VmDisk } from '@vireo/agent-protocol';
import type { BootIndexes } from './boot';
import type { BusAllocator } from './controllers';
import { invalidPlan } from './errors';
import { assertPrintable, headed, type OptPair, opts } from './escape';
import { diskNodeNames, volumeNodeNames } from './names';
import { nfsFileNode, nfsProtocolOpts } from './nfs';
import type { DiskChainLayer, LaunchPlan } from './types';

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
  const ids = [...new Set(plan.spec.disks.flatMap(diskSecretIds))];
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

/** The secret ids a disk names (its own volumes' key, then its template base's key). */
export function diskSecretIds(disk: VmDisk): string[] {
  return [disk.encryption_secret_id, disk.base_encryption_secret_id].filter(
    (id): id is string => id !== undefined,
  );
}

/**
 * `-blockdev` nodes (protocol, then format, the driver always explicit so QEMU never probes an
 * image's format from its content) and one `-device` per disk.
 */
export function diskArgs(plan: LaunchPlan, buses: BusAllocator, boot: BootIndexes): string[] {
  const args: string[] = [];
  plan.spec.disks.forEach((disk, i) => {
    // Explicit per-layer nodes: encrypted disks, and chains the plan spells out (nfs, ADR 027).
    const explicit = diskSecretIds(disk).length > 0 || plan.diskChains?.[disk.id] !== undefined;
    const blockdevs = explicit ? chainBlockdevArgs(plan, disk) : diskBlockdevArgs(plan, disk, i);
    args.push(...blockdevs, '-device', diskDevice(disk, i, buses, boot));
  });
  return args;
}

/**
 * A disk with encrypted layers: one file and one format node per layer of its chain, each format
 * node naming its backing node (the base `null`), so every layer gets its own `encrypt.key-secret`.
 * QEMU cannot open an encrypted backing file from a header (the header carries no key). Written as
 * JSON because only JSON can say `"backing": null` (the key=value form's empty string is
 * deprecated). Layers of the disk's own directory stay writable (a live merge commits into them;
 * QEMU cannot reopen an explicitly read-only node read-write), others are read-only.
 */
function chainBlockdevArgs(plan: LaunchPlan, disk: VmDisk): string[] {
  const where = `/diskChains/${disk.id}`;
  const chain = plan.diskChains?.[disk.id];
  if (!chain || chain.length === 0)
    throw invalidPlan(where, `no backing chain for encrypted disk ${disk.id}`);
  if (chain[0]?.path !== disk.path || chain[0]?.format !== disk.format) {
    throw invalidPlan(`${where}/0`, "the chain's first layer must be the disk's own path and format");
  }
  const keys = new Set(diskSecretIds(disk));
  // QEMU opens -blockdev in order and a backing reference must name an existing node: base first.
  const perLayer: string[][] = [];
  chain.forEach((layer, i) => {
    const at = `${where}/${i}`;
    assertPrintable(layer.path, `${at}/path`);
    if (!layer.path.startsWith('/')) throw invalidPlan(`${at}/path`, 'layer path must be absolute');
    if (layer.format !== 'qcow2' && layer.format !== 'raw') throw invalidPlan(`${at}/format`, 'bad format');
    if (layer.format === 'raw' && i < chain.length - 1) {
      throw invalidPlan(`${at}/format`, 'a raw layer can only be the base of a chain');
    }
    if (layer.secretId !== undefined && (!keys.has(layer.secretId) || layer.format !== 'qcow2')) {
      throw invalidPlan(
        `${at}/secretId`,
        `layer key "${layer.secretId}" is not one of the disk's qcow2 keys`,
      );
    }
    const names = i === 0 ? diskNodeNames(disk.id) : volumeNodeNames(layer.path);
    const next = chain[i + 1];
    const backing = next ? volumeNodeNames(next.path).format : null;
    const nodes = layerNodes(disk, { ...layer, writable: i === 0 || layer.writable }, names, backing);
    // A layer on a userspace-mode nfs domain opens with QEMU's nfs driver (ADR 027).
    const file = nfsFileNode(plan, layer.path, `${at}/path`, nodes.file);
    perLayer.push(['-blockdev', JSON.stringify(file), '-blockdev', JSON.stringify(nodes.format)]);
  });
  return perLayer.reverse().flat();
}

/** QMP/JSON `blockdev-add` options of one layer: its protocol node and its format node. */
export interface LayerNodes {
  file: Record<string, unknown>;
  format: Record<string, unknown>;
}

/**
 * The two nodes of one chain layer, as `-blockdev` JSON at start and as `blockdev-add` arguments at
 * run time (snapshot overlays, hot-plug), so both open a layer the same way. `backing`: the node
 * below (`null` for a base, or for an overlay `blockdev-snapshot` links up itself).
 */
export function layerNodes(
  disk: Pick<VmDisk, 'readonly' | 'cache'>,
  layer: DiskChainLayer,
  names: { format: string; file: string },
  backing: string | null,
): LayerNodes {
  const cache = disk.cache
    ? { direct: CACHE_MODES[disk.cache].direct, 'no-flush': CACHE_MODES[disk.cache].noFlush }
    : undefined;
  const readOnly = disk.readonly || !layer.writable;
  const common = {
    ...(readOnly ? { 'read-only': true } : { discard: 'unmap' }),
    ...(cache ? { cache } : {}),
  };
  return {
    file: { driver: protocolDriver(layer.path), filename: layer.path, 'node-name': names.file, ...common },
    format: {
      driver: layer.format,
      file: names.file,
      'node-name': names.format,
      ...common,
      ...(layer.format === 'qcow2' ? { backing } : {}),
      ...(layer.secretId ? { encrypt: { format: 'luks', 'key-secret': layer.secretId } } : {}),
    },
  };
}

function cacheFlags(disk: VmDisk): OptPair[] {
  if (!disk.cache) return [];
  const mode = CACHE_MODES[disk.cache];
  return [
    ['cache.direct', mode.direct],
    ['cache.no-flush', mode.noFlush],
  ];
}

function diskBlockdevArgs(plan: LaunchPlan, disk: VmDisk, index: number): string[] {
  const names = diskNodeNames(disk.id);
  const common: OptPair[] = [['read-only', disk.readonly], ...cacheFlags(disk)];
  // Writable thin images give freed guest blocks back to the host.
  const discard: OptPair[] = disk.readonly ? [] : [['discard', 'unmap']];
  return [
    '-blockdev',
    opts(
      // An nfs domain served in userspace mode: QEMU's nfs driver (ADR 027).
      ...(nfsProtocolOpts(plan, disk.path, `/spec/disks/${index}/path`) ?? [
        ['driver', protocolDriver(disk.path)],
        ['filename', disk.path, `/spec/disks/${index}/path`],
      ]),
      ['node-name', names.file],
      ...common,
      ...discard,
    ),
    '-blockdev',
    opts(['driver', disk.format], ['file', names.file], ['node-name', names.format], ...common, ...discard),
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
