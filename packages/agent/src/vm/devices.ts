import type { VmDisk, VmInfo, VmSpec } from '@vireo/agent-protocol';
import {
  CDROM_DEVICE_ID,
  type DiskChainLayer,
  diskNodeNames,
  diskSecretIds,
  HOTPLUG_PORT_PREFIX,
  layerNodes,
  SCSI_CONTROLLER_ID,
  validateVmSpec,
  volumeNodeNames,
} from '../qemu/argv';
import { nfsFileNode } from '../qemu/argv/nfs';
import type { LaunchPlan } from '../qemu/argv/types';
import type { QmpClient } from '../qemu/qmp';
import { isWrongKeyFailure } from '../storage/volumes/encryption';
import { AgentError } from '../util/errors';
import { Reverter } from '../util/reverter';
import { diskChain, requireDiskKeys } from './disk-chains';
import type { VmRuntime } from './runtime';
import { type ChainLayer, findFormatNode, liveDisk, nodeExists } from './snapshots/graph';
import { writeRuntime, writeSpec } from './store';
import type { ManagedVm } from './vm';

/** Guests take a while to let go of a PCIe device (Linux pciehp waits 5 s for a cancel). */
const UNPLUG_TIMEOUT_MS = 30_000;

const CACHE = {
  none: { direct: true, 'no-flush': false },
  writeback: { direct: false, 'no-flush': false },
  writethrough: { direct: false, 'no-flush': false },
  directsync: { direct: true, 'no-flush': false },
  unsafe: { direct: false, 'no-flush': true },
} as const;

function specOf(vm: ManagedVm): VmSpec {
  if (!vm.spec)
    throw new AgentError('vm_damaged', `VM ${vm.id} has no readable spec`, { details: { vm_id: vm.id } });
  return vm.spec;
}

/** Validates and stores an edited spec (hot-plug and CD changes persist for the next start). */
async function saveSpec(vm: ManagedVm, next: VmSpec): Promise<void> {
  const spec = validateVmSpec(next);
  await writeSpec(vm.paths, spec);
  vm.spec = spec;
}

/** Insert an ISO into the VM's CD drive, or eject (`path: null`). A VM that is down only gets its spec edited. */
export async function changeCdLocked(rt: VmRuntime, vm: ManagedVm, path: string | null): Promise<VmInfo> {
  const spec = specOf(vm);
  if (!spec.cdrom) {
    throw new AgentError('device_not_found', `VM ${spec.name} has no CD drive`, {
      details: { vm_id: vm.id },
    });
  }
  // An ISO on a userspace-mode nfs domain (ADR 027) is checked over NFS and opened by URL.
  const remote = path !== null && rt.images.remote?.owns(path) ? rt.images.remote : undefined;
  if (path !== null && remote) await remote.checkIso(path, '/path');
  else if (path !== null) await rt.images.checkFile(path, '/path');
  const next: VmSpec = { ...spec, cdrom: { ...spec.cdrom, path } };
  if (vm.state === 'down') {
    await saveSpec(vm, next);
    return vm.info();
  }
  rt.requireState(vm, ['up', 'paused', 'powering_down'], 'change the CD of');
  const qmp = rt.requireQmp(vm);
  if (path === null) {
    await qmp.execute('blockdev-open-tray', { id: CDROM_DEVICE_ID, force: true });
    await qmp.execute('blockdev-remove-medium', { id: CDROM_DEVICE_ID });
    await qmp.execute('blockdev-close-tray', { id: CDROM_DEVICE_ID });
  } else {
    // The format is explicit: an ISO is never probed, whatever its first bytes claim.
    await qmp.execute('blockdev-change-medium', {
      id: CDROM_DEVICE_ID,
      filename: remote ? nfsIsoUrl(remote.nfsImagesOf(next)[path], path) : path,
      format: 'raw',
      'read-only-mode': 'read-only',
      force: true,
    });
  }
  await saveSpec(vm, next);
  return vm.info();
}

/**
 * Hot-plugs a disk: two block nodes (protocol, then format with the declared driver) and a guest
 * device. virtio disks go to a free PCIe root port on q35 (the root bus cannot hot-plug) or to the
 * PCI root bus on pc; SCSI disks to the VM's virtio-scsi controller. A VM that is down only gets its
 * spec edited.
 */
export async function attachDiskLocked(
  rt: VmRuntime,
  vm: ManagedVm,
  disk: VmDisk,
  secrets: Record<string, string> = {},
): Promise<VmInfo> {
  const spec = specOf(vm);
  if (spec.disks.some((d) => d.id === disk.id)) {
    throw new AgentError('device_exists', `VM ${spec.name} already has a disk ${disk.id}`, {
      details: { vm_id: vm.id, disk_id: disk.id },
    });
  }
  const next: VmSpec = { ...spec, disks: [...spec.disks, disk] };
  validateVmSpec(next);
  // Every layer checked, each layer's encryption matched against the keys the spec names.
  const chain = await diskChain(rt.images, disk, '/disk/path');
  if (vm.state === 'down') {
    await saveSpec(vm, next);
    return vm.info();
  }
  requireDiskKeys([disk], secrets);
  // Layers on a userspace-mode nfs domain (ADR 027) get QEMU's nfs driver as their protocol node.
  const nfsImages = rt.images.remote?.owns(disk.path)
    ? rt.images.remote.nfsImagesOf(next, { [disk.id]: chain })
    : undefined;
  const protocol = (path: string, node: Record<string, unknown>) =>
    nfsImages ? nfsFileNode({ nfsImages } as unknown as LaunchPlan, path, '/disk/path', node) : node;
  rt.requireState(vm, ['up', 'paused'], 'hot-plug a disk into');
  const qmp = rt.requireQmp(vm);
  const record = vm.runtime;
  if (!record) throw new AgentError('invalid_vm_state', `VM ${spec.name} is not running`);

  const device: Record<string, unknown> & { driver: string; id: string } = {
    driver: 'virtio-blk-pci',
    id: diskNodeNames(disk.id).device,
  };
  let port: string | undefined;
  if (disk.interface === 'virtio') {
    if (spec.machine === 'q35') {
      port = freeHotplugPort(rt.cfg.hotplugPorts, record.hotplug_ports);
      if (!port) {
        throw new AgentError('unsupported', `VM ${spec.name} has no free hot-plug port`, {
          details: { vm_id: vm.id },
        });
      }
      device.bus = port;
    }
  } else if (disk.interface === 'scsi') {
    const hasScsi = spec.disks.some((d) => d.interface === 'scsi') || spec.cdrom?.interface === 'scsi';
    if (!hasScsi) {
      throw new AgentError('unsupported', `VM ${spec.name} has no SCSI controller to hot-plug into`, {
        details: { vm_id: vm.id },
      });
    }
    device.driver = 'scsi-hd';
    device.bus = `${SCSI_CONTROLLER_ID}.0`;
  } else {
    throw new AgentError(
      'unsupported',
      `${disk.interface} disks cannot be hot-plugged (use virtio or scsi)`,
      {
        details: { vm_id: vm.id, interface: disk.interface },
      },
    );
  }

  const names = diskNodeNames(disk.id);
  const cache = disk.cache ? { cache: CACHE[disk.cache] } : {};
  const discard = disk.readonly ? {} : { discard: 'unmap' };
  const revert = new Reverter(rt.log);
  try {
    // A chain on nfs opens layer by layer too (QEMU's nfs driver cannot follow backing names).
    if (diskSecretIds(disk).length > 0 || (nfsImages && chain.length > 1)) {
      await addEncryptedChain(qmp, disk, chain, secrets, revert, protocol);
    } else {
      await addPlainNodes();
    }
    await qmp.execute('device_add', {
      ...device,
      drive: names.format,
      ...(disk.serial ? { serial: disk.serial } : {}),
    });
    if (port) {
      record.hotplug_ports[port] = disk.id;
      await writeRuntime(vm.paths, record);
    }
    await saveSpec(vm, next);
    revert.success();
  } catch (err) {
    throw isWrongKeyFailure(err)
      ? new AgentError('encryption_key_invalid', `a key does not open disk ${disk.id}`, { cause: err })
      : err;
  } finally {
    await revert.revert();
  }
  return vm.info();

  async function addPlainNodes(): Promise<void> {
    await qmp.executeUntyped(
      'blockdev-add',
      protocol(disk.path, {
        driver: disk.path.startsWith('/dev/') ? 'host_device' : 'file',
        'node-name': names.file,
        filename: disk.path,
        'read-only': disk.readonly,
        ...cache,
        ...discard,
      }),
    );
    revert.add(() => qmp.execute('blockdev-del', { 'node-name': names.file }), 'delete protocol node');
    await qmp.execute('blockdev-add', {
      driver: disk.format,
      'node-name': names.format,
      file: names.file,
      'read-only': disk.readonly,
      ...cache,
      ...discard,
    });
    revert.add(() => qmp.execute('blockdev-del', { 'node-name': names.format }), 'delete format node');
  }
}

/**
 * An encrypted disk's keys go to QEMU as secret objects over the QMP socket (`object-add`, whose
 * arguments the QMP client never logs) — unless QEMU holds that id already (another disk of the
 * same template) — then every layer is opened base first as at start (`layerNodes`).
 */
async function addEncryptedChain(
  qmp: QmpClient,
  disk: VmDisk,
  chain: DiskChainLayer[],
  secrets: Record<string, string>,
  revert: Reverter,
  protocol: (path: string, node: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const existing = await secretObjects(qmp);
  for (const id of diskSecretIds(disk)) {
    if (existing.has(id)) continue;
    // The LUKS passphrase is the key's base64 text itself (volume.create and vm.start hand QEMU
    // that text with `format=raw`), so QEMU must decode exactly that text: base64 of it.
    await qmp.execute('object-add', {
      'qom-type': 'secret',
      id,
      data: Buffer.from(secrets[id] as string, 'utf8').toString('base64'),
      format: 'base64',
    });
    revert.add(() => qmp.execute('object-del', { id }), `remove secret ${id}`);
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const layer = chain[i] as DiskChainLayer;
    const names = i === 0 ? diskNodeNames(disk.id) : volumeNodeNames(layer.path);
    const below = chain[i + 1];
    const nodes = layerNodes(
      disk,
      { ...layer, writable: i === 0 || layer.writable },
      names,
      below ? volumeNodeNames(below.path).format : null,
    );
    await qmp.executeUntyped('blockdev-add', protocol(layer.path, nodes.file));
    revert.add(() => qmp.execute('blockdev-del', { 'node-name': names.file }), 'delete protocol node');
    await qmp.executeUntyped('blockdev-add', nodes.format);
    revert.add(() => qmp.execute('blockdev-del', { 'node-name': names.format }), 'delete format node');
  }
}

/** Ids of the secret objects QEMU holds. */
async function secretObjects(qmp: QmpClient): Promise<Set<string>> {
  const children = (await qmp.executeUntyped('qom-list', { path: '/objects' })) as {
    name: string;
    type: string;
  }[];
  return new Set(children.filter((c) => c.type === 'child<secret>').map((c) => c.name));
}

/**
 * After an encrypted disk's device is gone: its layers' nodes top down (each format node, then its
 * named file node; names QEMU generated go with their parent), then the secret objects no remaining
 * disk names. The chain is read from QEMU, since snapshots and merges change it while the VM runs.
 */
async function removeEncryptedChain(
  qmp: QmpClient,
  chain: ChainLayer[],
  secretIds: string[],
  remaining: VmDisk[],
): Promise<void> {
  for (const layer of chain) {
    const node = await findFormatNode(qmp, layer.filename);
    if (!node || node.startsWith('#')) continue;
    await qmp.execute('blockdev-del', { 'node-name': node });
    if (await nodeExists(qmp, `${node}-file`)) {
      await qmp.execute('blockdev-del', { 'node-name': `${node}-file` });
    }
  }
  const stillUsed = new Set(remaining.flatMap(diskSecretIds));
  const held = await secretObjects(qmp);
  for (const id of secretIds) {
    if (!stillUsed.has(id) && held.has(id)) await qmp.execute('object-del', { id });
  }
}

/** Unplugs a disk (the guest must let go: waits for `DEVICE_DELETED`) and deletes its block nodes. */
export async function detachDiskLocked(rt: VmRuntime, vm: ManagedVm, diskId: string): Promise<VmInfo> {
  const spec = specOf(vm);
  const disk = spec.disks.find((d) => d.id === diskId);
  if (!disk) {
    throw new AgentError('device_not_found', `VM ${spec.name} has no disk ${diskId}`, {
      details: { vm_id: vm.id, disk_id: diskId },
    });
  }
  const next: VmSpec = { ...spec, disks: spec.disks.filter((d) => d.id !== diskId) };
  next.boot_order = next.disks.length > 0 ? next.boot_order : next.boot_order.filter((b) => b !== 'disk');
  if (vm.state === 'down') {
    await saveSpec(vm, next);
    return vm.info();
  }
  rt.requireState(vm, ['up', 'paused'], 'unplug a disk from');
  const qmp = rt.requireQmp(vm);
  const record = vm.runtime;
  if (!record) throw new AgentError('invalid_vm_state', `VM ${spec.name} is not running`);
  const port = Object.entries(record.hotplug_ports).find(([, id]) => id === diskId)?.[0];
  if (disk.interface === 'virtio' && spec.machine === 'q35' && !port) {
    throw new AgentError(
      'unsupported',
      'a virtio disk that was present at start sits on the q35 root bus and cannot be unplugged; stop the VM',
      {
        details: { vm_id: vm.id, disk_id: diskId },
      },
    );
  }
  if (disk.interface === 'ide' || disk.interface === 'sata') {
    throw new AgentError('unsupported', `${disk.interface} disks cannot be unplugged`, {
      details: { vm_id: vm.id },
    });
  }
  const names = diskNodeNames(disk.id);
  const encrypted = diskSecretIds(disk).length > 0;
  const chain = encrypted ? (await liveDisk(qmp, disk.id)).chain : [];
  const deleted = qmp.waitForEvent('DEVICE_DELETED', (e) => e.data?.device === names.device, {
    timeoutMs: UNPLUG_TIMEOUT_MS,
  });
  await qmp.execute('device_del', { id: names.device });
  await deleted;
  if (encrypted) {
    await removeEncryptedChain(qmp, chain, diskSecretIds(disk), next.disks);
  } else {
    await qmp.execute('blockdev-del', { 'node-name': names.format });
    await qmp.execute('blockdev-del', { 'node-name': names.file });
  }
  if (port) {
    delete record.hotplug_ports[port];
    await writeRuntime(vm.paths, record);
  }
  await saveSpec(vm, next);
  return vm.info();
}

function freeHotplugPort(count: number, used: Record<string, string>): string | undefined {
  for (let i = 0; i < count; i++) {
    const port = `${HOTPLUG_PORT_PREFIX}${i}`;
    if (!(port in used)) return port;
  }
  return undefined;
}

/** The `nfs://` URL QEMU opens an ISO on a userspace-mode nfs domain by (IPv6 servers bracketed). */
function nfsIsoUrl(image: { server: string; path: string } | undefined, path: string): string {
  if (!image) throw new AgentError('image_not_found', `ISO ${path} is not on an active nfs domain`);
  const host =
    image.server.includes(':') && !image.server.startsWith('[') ? `[${image.server}]` : image.server;
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host) || !/^\/[A-Za-z0-9._/-]+$/.test(image.path)) {
    throw new AgentError('path_not_allowed', `ISO ${path} has characters an nfs:// URL cannot carry`);
  }
  return `nfs://${host}${image.path}`;
}
