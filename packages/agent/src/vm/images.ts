import { lstat, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import { detectFormatMagic } from '../storage/image-header';
import { AgentError } from '../util/errors';

/**
 * The storage checks a start (or hot-plug, or CD change) runs before QEMU opens anything. Every
 * path comes from outside and is hostile until shown otherwise: it must resolve (symlinks followed)
 * inside one of the agent's allowed image directories, exist, and be what the spec says it is.
 */
export class ImagePolicy {
  private resolvedRoots: Promise<string[]> | undefined;

  /** `roots`: directories images may live in. Block devices under `/dev/` are allowed separately. */
  constructor(
    private readonly roots: readonly string[],
    private readonly allowBlockDevices = false,
  ) {}

  /** Checks every image the spec references (disks, CD, kernel and initrd). */
  async checkSpec(spec: VmSpec): Promise<void> {
    for (const [i, disk] of spec.disks.entries()) await this.checkDisk(disk, `/disks/${i}/path`);
    if (spec.cdrom?.path) await this.checkFile(spec.cdrom.path, '/cdrom/path');
    if (spec.kernel) {
      await this.checkFile(spec.kernel.kernel, '/kernel/kernel');
      if (spec.kernel.initrd) await this.checkFile(spec.kernel.initrd, '/kernel/initrd');
    }
  }

  /** A disk image: allowed place, exists, and its header agrees with the declared format. */
  async checkDisk(disk: VmDisk, where: string): Promise<void> {
    const real = await this.checkFile(disk.path, where, true);
    await checkFormat(real, disk.format, where, (p) => this.isAllowed(p));
  }

  /** Returns the resolved path of an existing regular file (or block device) inside the roots. */
  async checkFile(path: string, where: string, blockDeviceOk = false): Promise<string> {
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

const QCOW2_MAGIC = 0x514649fb;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_DATA_FILE = 0x44415441;
/** Incompatible feature bit 2: the guest data lives in an external file named by the image. */
const INCOMPAT_EXTERNAL_DATA = 4n;
const MAX_CHAIN = 16;

/**
 * Reads the qcow2 header (never trusting QEMU to probe): the magic must match the declared format,
 * and a backing file must be named with an explicit format and resolve inside the allowed roots, so
 * a crafted image cannot make QEMU open `/etc/shadow` as its backing file. External data files are
 * refused outright.
 */
async function checkFormat(
  path: string,
  format: 'qcow2' | 'raw',
  where: string,
  isAllowed: (real: string) => Promise<boolean>,
  depth = 0,
): Promise<void> {
  const invalid = (why: string) =>
    new AgentError('image_invalid', `image ${path}: ${why}`, { details: { path, where, format } });
  if (depth > MAX_CHAIN) throw invalid(`backing chain longer than ${MAX_CHAIN}`);
  if (format === 'raw') {
    // QEMU opens it as raw whatever it holds, but an image with another format's magic is nearly
    // always a mistake, and anything that ever probes it would not treat it as raw.
    const magic = await detectFormatMagic(path);
    if (magic) throw invalid(`declared raw but the file is a ${magic} image`);
    return;
  }
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    const isQcow2 = bytesRead >= 72 && header.readUInt32BE(0) === QCOW2_MAGIC;
    if (!isQcow2) throw invalid('declared qcow2 but the file has no qcow2 header');
    const version = header.readUInt32BE(4);
    const backingOffset = Number(header.readBigUInt64BE(8));
    const backingSize = header.readUInt32BE(16);
    let backingFormat: string | undefined;
    if (version >= 3 && bytesRead >= 104) {
      if (header.readBigUInt64BE(72) & INCOMPAT_EXTERNAL_DATA)
        throw invalid('external data files are not allowed');
      // Header extensions follow the header: type (4), length (4), data padded to 8 bytes.
      let offset = header.readUInt32BE(100);
      while (offset + 8 <= bytesRead) {
        const type = header.readUInt32BE(offset);
        const length = header.readUInt32BE(offset + 4);
        if (type === 0) break;
        if (type === EXT_DATA_FILE) throw invalid('external data files are not allowed');
        if (type === EXT_BACKING_FORMAT) {
          backingFormat = header.subarray(offset + 8, offset + 8 + length).toString('utf8');
        }
        offset += 8 + Math.ceil(length / 8) * 8;
      }
    }
    if (backingOffset === 0 || backingSize === 0) return;
    if (backingSize > 1023) throw invalid('backing file name too long');
    const nameBuf = Buffer.alloc(backingSize);
    await handle.read(nameBuf, 0, backingSize, backingOffset);
    const name = nameBuf.toString('utf8');
    if (name.startsWith('json:') || /^[a-z][a-z0-9+.-]*:/i.test(name)) {
      throw invalid('backing file must be a plain path, not a protocol or json: name');
    }
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
        {
          details: { path, where, backing: name },
        },
      );
    }
    await checkFormat(backingReal, backingFormat, where, isAllowed, depth + 1);
  } finally {
    await handle.close();
  }
}
