import {
  SCAN_MAX_DISKS,
  SCAN_MAX_VOLUMES,
  type ScannedDisk,
  type ScannedVolume,
  type ScanProblem,
} from '@vireo/agent-protocol';
import { StorageError } from '../errors';
import { detectFormatMagic, HeaderError, readQcow2Header } from '../image-header';
import { type DomainTree, LocalTree, withLocalHead } from '../export/tree';
import { CHECK_LIMITS, type CheckResult, type ImageInfo, runQemuImg } from '../qemu-img';
import { MERGE_MARKER } from '../../vm/snapshots/marker';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_SRC = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** The two backing names Vireo ever writes: a sibling volume, or a template disk's volume. */
const SIBLING = new RegExp(`^(${UUID_SRC})$`);
const OTHER_DISK = new RegExp(`^\\.\\./(${UUID_SRC})/(${UUID_SRC})$`);
/** The disks table's bound (64 TiB): a header claiming more is refused before qemu-img opens it. */
export const MAX_SCAN_VIRTUAL_SIZE = 64 * 1024 ** 4;

type Format = 'qcow2' | 'raw';

/** A volume as its header describes it, before qemu-img has opened it. */
interface VolumeHead {
  volume_id: string;
  /** Relative to the domain root (`images/<disk>/<volume>`). */
  rel: string;
  format: Format;
  virtualSize: number;
  encrypted: boolean;
  parent: { disk_id: string; volume_id: string; format: Format } | null;
}

/** A refusal for one disk directory; the scan goes on with the others. */
class DiskProblem extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ScanOptions {
  diskIds?: string[];
  excludeDiskIds?: string[];
  maxVirtualSize?: number;
}

/**
 * Reports every disk directory under `<root>/images/` with its volume chain, treating each file as
 * hostile: names must be UUIDs; files must be regular files (no symlinks); headers are parsed by our
 * own code first; a backing name must be a sibling volume or `../<disk>/<volume>` of a parentless
 * volume in the same domain (a template base) with an explicit format, never `json:`, absolute or
 * anything else; the chain must be one line without loops; only then does qemu-img open each volume
 * on its own (`backing=` empty: the backing file is not opened) to cross-check the header and run
 * `check`. A refused disk carries a `problem`; nothing on storage is changed. `root` is a domain
 * directory of this host or a {@link DomainTree} (a userspace-mode nfs domain through the agent's
 * NFS client: headers are copied out and parsed by the same code, qemu-img opens `nfs://`).
 */
export async function scanDisks(
  root: string | DomainTree,
  options: ScanOptions = {},
): Promise<ScannedDisk[]> {
  const tree = typeof root === 'string' ? new LocalTree(root) : root;
  const imagesDir = 'images';
  const exclude = new Set((options.excludeDiskIds ?? []).map((d) => d.toLowerCase()));
  let names: string[];
  if (options.diskIds) {
    names = options.diskIds.map((d) => d.toLowerCase());
  } else {
    names = (await tree.list(imagesDir)).map((e) => e.name);
    names = names.filter((n) => UUID.test(n)).sort();
  }
  names = names.filter((n) => !exclude.has(n)).slice(0, SCAN_MAX_DISKS);
  const max = options.maxVirtualSize ?? MAX_SCAN_VIRTUAL_SIZE;
  const out: ScannedDisk[] = [];
  for (const diskId of names) {
    try {
      out.push({ disk_id: diskId, volumes: await scanOneDisk(tree, imagesDir, diskId, max) });
    } catch (err) {
      out.push({ disk_id: diskId, volumes: [], problem: problemOf(err) });
    }
  }
  return out;
}

function problemOf(err: unknown): ScanProblem {
  if (err instanceof DiskProblem) return { code: err.code, message: err.message.slice(0, 1024) };
  if (err instanceof StorageError) return { code: err.code, message: err.message.slice(0, 1024) };
  return { code: 'image_corrupt', message: String((err as Error)?.message ?? err).slice(0, 1024) };
}

async function realDir(tree: DomainTree, rel: string): Promise<boolean> {
  const st = await tree.stat(rel).catch(() => undefined);
  return st?.type === 'directory';
}

async function scanOneDisk(
  tree: DomainTree,
  imagesDir: string,
  diskId: string,
  max: number,
): Promise<ScannedVolume[]> {
  const dir = `${imagesDir}/${diskId}`;
  // lstat, not stat: a symlinked disk directory could point anywhere on the host.
  if (!(await realDir(tree, dir)))
    throw new DiskProblem('image_not_found', 'not a disk directory of the domain');
  const entries = (await tree.list(dir)).map((e) => e.name);
  if (entries.includes(MERGE_MARKER)) {
    throw new DiskProblem('merge_pending', 'an interrupted merge left its marker: the chain is not settled');
  }
  const volumeNames = entries.filter((n) => UUID.test(n));
  if (volumeNames.length === 0) throw new DiskProblem('disk_empty', 'the disk directory holds no volume');
  if (volumeNames.length > SCAN_MAX_VOLUMES) {
    throw new DiskProblem('image_chain_invalid', `more than ${SCAN_MAX_VOLUMES} volumes`);
  }
  const heads = new Map<string, VolumeHead>();
  for (const name of volumeNames) heads.set(name, await readHead(tree, `${dir}/${name}`, diskId, name, max));
  if ([...heads.values()].some((h) => h.encrypted)) {
    // The key is wrapped under the old engine's master key, in its database: unusable here.
    throw new DiskProblem('disk_encrypted', 'the disk is encrypted and its key is not on storage');
  }
  const chain = orderChain(diskId, heads);
  const root = chain[0] as VolumeHead;
  if (root.parent) await checkForeignParent(tree, imagesDir, root.parent, max);
  const volumes: ScannedVolume[] = [];
  for (const head of chain) volumes.push(await openAlone(tree, head));
  return volumes;
}

/** Our own reading of one volume's header: format, size, encryption and the backing name. */
async function readHead(
  tree: DomainTree,
  rel: string,
  diskId: string,
  volumeId: string,
  max: number,
): Promise<VolumeHead> {
  const st = await tree.stat(rel);
  if (st?.type !== 'file')
    throw new DiskProblem('path_not_allowed', `volume ${volumeId} is not a regular file`);
  return withLocalHead(tree, rel, (path) => parseHead(path, rel, st.size, diskId, volumeId, max));
}

async function parseHead(
  path: string,
  rel: string,
  size: number,
  diskId: string,
  volumeId: string,
  max: number,
): Promise<VolumeHead> {
  let header: Awaited<ReturnType<typeof readQcow2Header>>;
  try {
    header = await readQcow2Header(path);
  } catch (err) {
    if (err instanceof HeaderError)
      throw new DiskProblem('image_corrupt', `volume ${volumeId}: malformed qcow2 header: ${err.message}`);
    throw err;
  }
  if (!header) {
    const magic = await detectFormatMagic(path);
    if (magic) throw new DiskProblem('image_unsupported', `volume ${volumeId} is a ${magic} image`);
    if (size > max)
      throw new DiskProblem('image_too_large', `volume ${volumeId} is larger than ${max} bytes`);
    return { volume_id: volumeId, rel, format: 'raw', virtualSize: size, encrypted: false, parent: null };
  }
  if (header.dataFile !== undefined || header.hasExternalData) {
    if (header.dataFile?.startsWith('json:'))
      throw new DiskProblem('image_json_filename', `volume ${volumeId} names a json: data file`);
    throw new DiskProblem('image_has_data_file', `volume ${volumeId} keeps its data in an external file`);
  }
  if (header.cryptMethod === 1)
    throw new DiskProblem('image_unsupported', `volume ${volumeId} uses legacy qcow2 AES encryption`);
  if (header.virtualSize > BigInt(max))
    throw new DiskProblem('image_too_large', `volume ${volumeId} claims more than ${max} bytes`);
  return {
    volume_id: volumeId,
    rel,
    format: 'qcow2',
    virtualSize: Number(header.virtualSize),
    encrypted: header.cryptMethod === 2,
    parent:
      header.backingFile === undefined
        ? null
        : backingRef(diskId, volumeId, header.backingFile, header.backingFormat),
  };
}

/** Accepts only the backing names Vireo writes; everything else is a chain leaving the disk layout. */
export function backingRef(
  diskId: string,
  volumeId: string,
  name: string,
  format: string | undefined,
): { disk_id: string; volume_id: string; format: Format } {
  if (name.startsWith('json:'))
    throw new DiskProblem('image_json_filename', `volume ${volumeId} names a json: backing file`);
  let ref: { disk_id: string; volume_id: string } | undefined;
  const sibling = SIBLING.exec(name);
  if (sibling) ref = { disk_id: diskId, volume_id: sibling[1] as string };
  const other = OTHER_DISK.exec(name);
  if (other) ref = { disk_id: other[1] as string, volume_id: other[2] as string };
  if (!ref) {
    throw new DiskProblem(
      'image_chain_invalid',
      `volume ${volumeId} is backed by ${JSON.stringify(name.slice(0, 200))}, outside the domain's disk layout`,
    );
  }
  if (format !== 'qcow2' && format !== 'raw') {
    throw new DiskProblem('image_chain_invalid', `volume ${volumeId} does not name its backing format`);
  }
  if (ref.disk_id === diskId && ref.volume_id === volumeId)
    throw new DiskProblem('image_chain_invalid', `volume ${volumeId} is backed by itself`);
  return { ...ref, format };
}

/**
 * Orders a disk's volumes root first: exactly one root (no parent, or a parent in another disk),
 * every volume backed by at most one parent in the directory and parent of at most one child, and
 * every volume on the single line (a loop leaves volumes off it).
 */
export function orderChain<T extends Pick<VolumeHead, 'volume_id' | 'parent' | 'format'>>(
  diskId: string,
  heads: Map<string, T>,
): T[] {
  const childOf = new Map<string, string>();
  const roots: T[] = [];
  for (const h of heads.values()) {
    const p = h.parent;
    if (!p || p.disk_id !== diskId) {
      roots.push(h);
      continue;
    }
    const parent = heads.get(p.volume_id);
    if (!parent)
      throw new DiskProblem('image_chain_invalid', `volume ${h.volume_id} is backed by a missing volume`);
    if (parent.format !== p.format) {
      throw new DiskProblem('image_chain_invalid', `volume ${h.volume_id} names the wrong backing format`);
    }
    if (childOf.has(p.volume_id))
      throw new DiskProblem('image_chain_invalid', `volume ${p.volume_id} backs two volumes`);
    childOf.set(p.volume_id, h.volume_id);
  }
  if (roots.length !== 1) {
    throw new DiskProblem(
      'image_chain_invalid',
      roots.length === 0 ? 'the volumes back each other in a loop' : `${roots.length} separate chains`,
    );
  }
  const chain: T[] = [];
  let cur: T | undefined = roots[0];
  while (cur && chain.length <= heads.size) {
    chain.push(cur);
    const next = childOf.get(cur.volume_id);
    cur = next === undefined ? undefined : heads.get(next);
  }
  if (chain.length !== heads.size)
    throw new DiskProblem('image_chain_invalid', 'some volumes are not on the chain (a loop)');
  return chain;
}

/** A thin clone's base: a parentless volume of a real disk directory in the same domain. */
async function checkForeignParent(
  tree: DomainTree,
  imagesDir: string,
  parent: { disk_id: string; volume_id: string; format: Format },
  max: number,
): Promise<void> {
  const dir = `${imagesDir}/${parent.disk_id}`;
  if (!(await realDir(tree, dir))) {
    throw new DiskProblem(
      'image_chain_invalid',
      `backing disk ${parent.disk_id} is not a disk of the domain`,
    );
  }
  const head = await readHead(
    tree,
    `${dir}/${parent.volume_id}`,
    parent.disk_id,
    parent.volume_id,
    max,
  ).catch((err: unknown) => {
    if (err instanceof DiskProblem) throw err;
    throw new DiskProblem('image_chain_invalid', `backing volume ${parent.volume_id} is missing`);
  });
  if (head.parent) {
    throw new DiskProblem('image_chain_invalid', `backing volume ${parent.volume_id} is not a base volume`);
  }
  if (head.format !== parent.format)
    throw new DiskProblem(
      'image_chain_invalid',
      `backing volume ${parent.volume_id} is not ${parent.format}`,
    );
}

/** qemu-img on this one volume only, as its declared format, backing file not opened. */
async function openAlone(tree: DomainTree, head: VolumeHead): Promise<ScannedVolume> {
  const opts = tree.imageOpts(head.rel, head.format, head.format === 'qcow2' ? ['backing='] : []);
  const { stdout } = await runQemuImg(['info', '--output=json', '-U', '--image-opts', opts]);
  const info = JSON.parse(stdout) as ImageInfo;
  if (info.format !== head.format || info['virtual-size'] !== head.virtualSize) {
    throw new DiskProblem('image_format_mismatch', `qemu-img reads volume ${head.volume_id} differently`);
  }
  if (info['format-specific']?.data['data-file'] !== undefined)
    throw new DiskProblem('image_has_data_file', `volume ${head.volume_id} has an external data file`);
  if (head.format === 'qcow2') {
    const { stdout: out } = await runQemuImg(['check', '--output=json', '-U', '--image-opts', opts], {
      limits: CHECK_LIMITS,
      okExitCodes: [0, 2, 3],
    });
    const report = JSON.parse(out) as CheckResult;
    if ((report.corruptions ?? 0) > 0 || report['check-errors'] > 0)
      throw new DiskProblem('image_corrupt', `volume ${head.volume_id} has corrupt metadata`);
  }
  return {
    volume_id: head.volume_id,
    format: head.format,
    virtual_size: head.virtualSize,
    actual_size: info['actual-size'] ?? 0,
    encrypted: head.encrypted,
    parent: head.parent,
  };
}
