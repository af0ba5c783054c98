import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import { detectFormatMagic, HeaderError, type Qcow2Header, readQcow2Header } from '../storage/image-header';
import type { RemoteImages } from '../storage/nfs/images';
import { AgentError } from '../util/errors';

/**
 * The storage checks a start (or hot-plug, or CD change) runs before QEMU opens anything. Every
 * path comes from outside and is hostile until shown otherwise: it must resolve (symlinks followed)
 * inside one of the agent's allowed image directories, exist, and be what the spec says it is.
 */
export class ImagePolicy {
  private resolvedRoots: Promise<string[]> | undefined;
  private readonly roots: string[];

  /** `roots`: directories images may live in. Block devices under `/dev/` are allowed separately. */
  constructor(
    roots: readonly string[],
    private readonly allowBlockDevices = false,
  ) {
    this.roots = [...roots];
  }

  /** Allows one more directory (an activated storage domain's root). */
  addRoot(dir: string): void {
    if (!this.roots.includes(dir)) this.roots.push(dir);
    this.resolvedRoots = undefined;
  }

  /**
   * Images on nfs domains served in userspace mode (ADR 027): checked over NFS by the storage
   * module; such paths are only names on this host.
   */
  remote: RemoteImages | undefined;

  /** Withdraws a directory added by `addRoot` (the domain was deactivated). */
  removeRoot(dir: string): void {
    const i = this.roots.indexOf(dir);
    if (i >= 0) this.roots.splice(i, 1);
    this.resolvedRoots = undefined;
  }

  /** Checks every image the spec references (disks, CD, kernel and initrd). */
  async checkSpec(spec: VmSpec): Promise<void> {
    for (const [i, disk] of spec.disks.entries()) await this.checkDisk(disk, `/disks/${i}/path`);
    if (spec.cdrom?.path && this.remote?.owns(spec.cdrom.path)) {
      await this.remote.checkIso(spec.cdrom.path, '/cdrom/path');
    } else if (spec.cdrom?.path) await this.checkFile(spec.cdrom.path, '/cdrom/path');
    if (spec.kernel) {
      await this.checkFile(spec.kernel.kernel, '/kernel/kernel');
      if (spec.kernel.initrd) await this.checkFile(spec.kernel.initrd, '/kernel/initrd');
    }
  }

  /**
   * A disk image: allowed place, exists, and its header agrees with the declared format. Returns its
   * chain as the headers name it (active layer first, paths resolved), every layer checked the same way.
   */
  async checkDisk(disk: VmDisk, where: string): Promise<ImageLayer[]> {
    return this.checkChain(disk.path, disk.format, where, true);
  }

  /** `checkDisk` for a volume given by path and format (merges, hot-plug). */
  async checkChain(
    path: string,
    format: 'qcow2' | 'raw',
    where: string,
    blockDeviceOk = false,
  ): Promise<ImageLayer[]> {
    if (this.remote?.owns(path)) return this.remote.checkChain(path, format, where);
    const real = await this.checkFile(path, where, blockDeviceOk);
    const layers: ImageLayer[] = [];
    await checkFormat(real, format, where, (p) => this.isAllowed(p), 0, layers);
    return layers;
  }

  /** Returns the resolved path of an existing regular file (or block device) inside the roots. */
  async checkFile(path: string, where: string, blockDeviceOk = false): Promise<string> {
    if (this.remote?.owns(path)) throw this.remote.unavailable(path, where);
    if (!isAbsolute(path)) throw notAllowed(path, where, 'not an absolute path');
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new AgentError('image_not_found', `image ${path} does not exist`, { details: { path, where } });
      }
      throw new AgentError('image_invalid', `image ${path} cannot be resolved`, {
        cause: err,
        details: { path, where },
      });
    }
    const info = await stat(real);
    const isDevice =
      info.isBlockDevice() && blockDeviceOk && this.allowBlockDevices && real.startsWith('/dev/');
    if (!isDevice) {
      if (!(await this.isAllowed(real)))
        throw notAllowed(path, where, 'outside the allowed image directories');
      if (!info.isFile()) {
        throw new AgentError('image_invalid', `image ${path} is not a regular file`, {
          details: { path, where },
        });
      }
    }
    return real;
  }

  /**
   * For a file about to be created: its directory must resolve inside the roots and the file must
   * not exist. Returns the path to create (directory resolved).
   */
  async checkNewFile(path: string, where: string): Promise<string> {
    if (this.remote?.owns(path)) throw this.remote.unavailable(path, where);
    if (!isAbsolute(path)) throw notAllowed(path, where, 'not an absolute path');
    let dir: string;
    try {
      dir = await realpath(dirname(path));
    } catch {
      throw notAllowed(path, where, 'its directory does not exist');
    }
    if (!(await this.isAllowed(dir))) throw notAllowed(path, where, 'outside the allowed image directories');
    const target = join(dir, basename(path));
    const exists = await lstat(target).then(
      () => true,
      () => false,
    );
    if (exists) throw new AgentError('image_exists', `${path} already exists`, { details: { path, where } });
    return target;
  }

  private async isAllowed(real: string): Promise<boolean> {
    this.resolvedRoots ??= Promise.all(this.roots.map((r) => realpath(r).catch(() => resolve(r))));
    const roots = await this.resolvedRoots;
    return roots.some((root) => real === root || real.startsWith(root.endsWith(sep) ? root : root + sep));
  }
}

function notAllowed(path: string, where: string, why: string): AgentError {
  return new AgentError('path_not_allowed', `image ${path}: ${why}`, { details: { path, where } });
}

const MAX_CHAIN = 16;

/** One volume of a checked chain. */
export interface ImageLayer {
  /** Resolved path. */
  path: string;
  format: 'qcow2' | 'raw';
  /** qcow2 header's crypt method: 0 none, 1 legacy AES, 2 LUKS (always 0 for raw). */
  cryptMethod: number;
}

/**
 * Reads the qcow2 header (never trusting QEMU to probe; the parser is storage's): the magic must
 * match the declared format, and a backing file must be named with an explicit format and resolve
 * inside the allowed roots, so a crafted image cannot make QEMU open `/etc/shadow` as its backing
 * file. External data files are refused outright.
 */
async function checkFormat(
  path: string,
  format: 'qcow2' | 'raw',
  where: string,
  isAllowed: (real: string) => Promise<boolean>,
  depth = 0,
  layers: ImageLayer[] = [],
): Promise<void> {
  const invalid = (why: string, cause?: unknown) =>
    new AgentError('image_invalid', `image ${path}: ${why}`, { cause, details: { path, where, format } });
  if (depth > MAX_CHAIN) throw invalid(`backing chain longer than ${MAX_CHAIN}`);
  if (format === 'raw') {
    // QEMU opens it as raw whatever it holds, but an image with another format's magic is nearly
    // always a mistake, and anything that ever probes it would not treat it as raw.
    const magic = await detectFormatMagic(path);
    if (magic) throw invalid(`declared raw but the file is a ${magic} image`);
    layers.push({ path, format, cryptMethod: 0 });
    return;
  }
  let header: Qcow2Header | undefined;
  try {
    header = await readQcow2Header(path);
  } catch (err) {
    if (err instanceof HeaderError) throw invalid(err.message, err);
    throw err;
  }
  if (!header) throw invalid('declared qcow2 but the file has no qcow2 header');
  if (header.hasExternalData || header.dataFile !== undefined) {
    throw invalid('external data files are not allowed');
  }
  layers.push({ path, format, cryptMethod: header.cryptMethod });
  const name = header.backingFile;
  if (name === undefined) return;
  if (name.startsWith('json:') || /^[a-z][a-z0-9+.-]*:/i.test(name)) {
    throw invalid('backing file must be a plain path, not a protocol or json: name');
  }
  const backingFormat = header.backingFormat;
  if (backingFormat !== 'qcow2' && backingFormat !== 'raw') {
    throw invalid('backing file has no explicit format (qcow2 or raw)');
  }
  let backingReal: string;
  try {
    backingReal = await realpath(resolve(dirname(path), name));
  } catch {
    throw new AgentError('image_not_found', `image ${path}: backing file ${name} does not exist`, {
      details: { path, where, backing: name },
    });
  }
  if (!(await isAllowed(backingReal))) {
    throw new AgentError(
      'path_not_allowed',
      `image ${path}: backing file ${name} is outside the allowed directories`,
      { details: { path, where, backing: name } },
    );
  }
  await checkFormat(backingReal, backingFormat, where, isAllowed, depth + 1, layers);
}
