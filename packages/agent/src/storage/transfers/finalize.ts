import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, realpath, rename, rmdir, statfs, unlink } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { isAgentErrorCode, type TransferFormat } from '@vireo/agent-protocol';
import { AgentError } from '../../util/errors';
import { StorageError } from '../errors';
import { type InspectedImage, inspectUntrustedImage } from '../inspect';

/** ISO 9660: the primary volume descriptor's identifier sits at byte 32769 of every CD image. */
const ISO9660_MAGIC = Buffer.from('CD001', 'latin1');
const ISO9660_OFFSET = 0x8001;

/** SHA-256 (lower-case hex) of a whole file, streamed. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Bytes available to an unprivileged writer on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * The hostile-image gate for a complete upload (see `inspectUntrustedImage`), plus the ISO check:
 * an `iso` upload is opened as raw (what QEMU's CD drive does) and must carry an ISO 9660 volume
 * descriptor. Throws `AgentError` with the gate's `image_*` code.
 */
export async function gateUpload(options: {
  staging: string;
  stagingDir: string;
  format: TransferFormat;
  maxVirtualSize: number;
}): Promise<InspectedImage> {
  const expectedFormat = options.format === 'iso' ? 'raw' : options.format;
  let inspected: InspectedImage;
  try {
    inspected = await inspectUntrustedImage(options.staging, {
      expectedFormat,
      maxVirtualSize: options.maxVirtualSize,
      allowedDir: options.stagingDir,
    });
  } catch (err) {
    if (err instanceof StorageError) {
      const code = isAgentErrorCode(err.code) ? err.code : 'image_invalid';
      throw new AgentError(code, `uploaded image refused: ${err.message}`, {
        cause: err,
        details: { ...err.details, path: undefined },
      });
    }
    throw err;
  }
  if (options.format === 'iso') {
    const handle = await open(options.staging, 'r');
    try {
      const buf = Buffer.alloc(ISO9660_MAGIC.length);
      const { bytesRead } = await handle.read(buf, 0, buf.length, ISO9660_OFFSET);
      if (bytesRead !== buf.length || !buf.equals(ISO9660_MAGIC)) {
        throw new AgentError('image_format_mismatch', 'uploaded file is not an ISO 9660 image', {
          details: { format: 'iso' },
        });
      }
    } finally {
      await handle.close();
    }
  }
  return inspected;
}

/**
 * Moves a verified staging file to its place. Without `replace` the target must not exist (a hard
 * link fails with EEXIST atomically, then the staging name goes); with it the target is swapped
 * atomically by rename. The target directory is created if needed and removed again on failure.
 */
export async function moveIntoPlace(options: {
  staging: string;
  target: string;
  root: string;
  replace: boolean;
}): Promise<void> {
  const dir = dirname(options.target);
  const created = await mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    // The directory must still be inside the domain once symlinks are resolved.
    const [realDir, realRoot] = await Promise.all([realpath(dir), realpath(options.root)]);
    const rel = relative(realRoot, realDir);
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || rel.startsWith(sep)) {
      throw new AgentError('path_not_allowed', 'target directory resolves outside the storage domain');
    }
    if (options.replace) {
      await rename(options.staging, options.target);
    } else {
      try {
        await link(options.staging, options.target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new AgentError('image_exists', 'the target image exists already', {
            details: { target: relative(options.root, options.target) },
          });
        }
        throw err;
      }
      await unlink(options.staging);
    }
    await fsyncDir(dir);
  } catch (err) {
    if (created) await rmdir(created).catch(() => undefined);
    throw err;
  }
}

/** Makes a rename durable: the directory entry, not only the file data, must reach the disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
