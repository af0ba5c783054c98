import { realpath } from 'node:fs/promises';
import type { QmpBlockInfo, QmpClient, QmpImageInfo } from '../../qemu/qmp';
import { diskNodeNames, volumeNodeNames } from '../../qemu/argv/names';
import { AgentError } from '../../util/errors';
import type { VmRuntime } from '../runtime';

/**
 * Reading a running VM's block graph. Snapshots add nodes with names derived from the volume path
 * (so a restarted agent finds them again); volumes QEMU opened on its own from a backing-file header
 * have generated names (`#blockNNN`). Either way nodes are found by their file name.
 */

/** Node names for a volume the agent adds at run time (≤ 31 characters, as QEMU requires). */
export { volumeNodeNames };

/** `/machine/peripheral/disk-x/virtio-backend` → `disk-x`. */
function qdevId(qdev: string | undefined): string | undefined {
  if (!qdev) return undefined;
  const match = /^\/machine\/peripheral\/([^/]+)/.exec(qdev);
  return match?.[1] ?? qdev;
}

/** One layer of a disk's chain as QEMU has it open, active layer first. */
export interface ChainLayer {
  filename: string;
  format: string;
}

/** What QEMU has open for one disk: the active format node's name and the chain below it. */
export interface LiveDisk {
  /** Node name of the active layer (where `block-commit`/`blockdev-snapshot` start). */
  node: string;
  chain: ChainLayer[];
  /** The guest-visible size of the disk, in bytes. */
  virtualSize: number;
}

/**
 * The volume path a file name QEMU reports stands for, when it is not a local file name (a node
 * opened with the nfs driver, ADR 027); undefined for anything else.
 */
export type RemoteNames = (qemuFilename: string) => string | undefined;

/** The remote-name mapping of a runtime whose image policy has userspace-mode nfs domains. */
export function remoteNamesOf(rt: VmRuntime): RemoteNames | undefined {
  const remote = rt.images.remote;
  return remote ? (name) => remote.localPathOf(name) : undefined;
}

function fileOf(name: string, remote: RemoteNames | undefined): string {
  return remote?.(name) ?? plainFilename(name);
}

export async function liveDisk(qmp: QmpClient, diskId: string, remote?: RemoteNames): Promise<LiveDisk> {
  const device = diskNodeNames(diskId).device;
  const blocks = (await qmp.execute('query-block')) as QmpBlockInfo[];
  const block = blocks.find((b) => qdevId(b.qdev) === device);
  const inserted = block?.inserted;
  if (!inserted?.['node-name']) {
    throw new AgentError('device_not_found', `disk ${diskId} is not attached to the running VM`, {
      details: { disk_id: diskId },
    });
  }
  const chain: ChainLayer[] = [];
  for (let img: QmpImageInfo | undefined = inserted.image; img; img = img['backing-image']) {
    chain.push({ filename: fileOf(img.filename, remote), format: img.format });
  }
  return { node: inserted['node-name'], chain, virtualSize: inserted.image['virtual-size'] };
}

interface NamedNode {
  'node-name': string;
  drv: string;
  file: string;
}

/** The format node whose image is `path` (compared after resolving symlinks), or undefined. */
export async function findFormatNode(
  qmp: QmpClient,
  path: string,
  remote?: RemoteNames,
): Promise<string | undefined> {
  const nodes = (await qmp.executeUntyped('query-named-block-nodes', { flat: true })) as NamedNode[];
  const wanted = await canonical(path);
  for (const node of nodes) {
    if (node.drv !== 'qcow2' && node.drv !== 'raw') continue;
    const file = fileOf(node.file, remote);
    if (file === path || (await canonical(file)) === wanted) return node['node-name'];
  }
  return undefined;
}

/** Whether QEMU has a block node named `name`. */
export async function nodeExists(qmp: QmpClient, name: string): Promise<boolean> {
  const nodes = (await qmp.executeUntyped('query-named-block-nodes', { flat: true })) as NamedNode[];
  return nodes.some((n) => n['node-name'] === name);
}

/** Whether `path` is one of the chain's layers. */
export async function chainHas(chain: ChainLayer[], path: string): Promise<boolean> {
  const wanted = await canonical(path);
  for (const layer of chain) {
    if (layer.filename === path || (await canonical(layer.filename)) === wanted) return true;
  }
  return false;
}

/**
 * QEMU reports a node whose graph differs from what its header alone would open (an overlay linked
 * to an already open backing node) as `json:{…}`; its own file is `file.filename` in there.
 */
export function plainFilename(name: string): string {
  if (!name.startsWith('json:')) return name;
  try {
    const options = JSON.parse(name.slice(5)) as { filename?: unknown; file?: { filename?: unknown } };
    const file = options.file?.filename ?? options.filename;
    return typeof file === 'string' ? file : name;
  } catch {
    return name;
  }
}

export async function canonical(path: string): Promise<string> {
  return realpath(path).catch(() => path);
}

/** A block job of this VM, as `query-block-jobs` reports it. */
export interface BlockJob {
  device: string;
  type: string;
  len: number;
  offset: number;
  ready: boolean;
  status?: string;
}

export async function findJob(qmp: QmpClient, jobId: string): Promise<BlockJob | undefined> {
  const jobs = (await qmp.executeUntyped('query-block-jobs')) as BlockJob[];
  return jobs.find((j) => j.device === jobId);
}
