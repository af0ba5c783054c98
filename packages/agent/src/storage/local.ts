import { lstat, mkdir, realpath, statfs, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import type { CreateVolumeRequest, StorageDomainConfig, StorageDriver, VolumeInfo } from './driver';
import { StorageError } from './errors';
import { hasControlChars } from './control-chars';
import { createImage, createOverlay, type ImageFormat, imageInfo } from './qemu-img';

/** One path segment of a volume name: starts alphanumeric, so `.` and `..` can never be segments. */
const SEGMENT = '[A-Za-z0-9][A-Za-z0-9._-]{0,127}';
const VOLUME_NAME = new RegExp(`^${SEGMENT}(/${SEGMENT}){0,7}$`);

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * A storage domain that is a directory on this host. Volumes are image files under it, named by
 * relative paths (`images/<disk>/<volume>.qcow2`). Every name is checked twice: syntactically (no
 * absolute paths, no `.`/`..` segments) and after resolving symlinks (the real path must still be
 * inside the domain), so a symlink planted in the domain cannot redirect QEMU to a host file.
 */
export class LocalStorageDriver implements StorageDriver {
  readonly kind = 'local';
  private root: string | undefined;

  constructor(readonly config: StorageDomainConfig) {
    const { path } = config;
    if (!isAbsolute(path) || normalize(path) !== path || hasControlChars(path)) {
      throw new StorageError(
        'invalid_storage_config',
        'local storage path must be an absolute, canonical path',
        {
          path,
        },
      );
    }
  }

  async activate(): Promise<void> {
    await mkdir(this.config.path, { recursive: true, mode: 0o750 });
    const stat = await lstat(await realpath(this.config.path));
    if (!stat.isDirectory()) {
      throw new StorageError('invalid_storage_config', 'local storage path is not a directory', {
        path: this.config.path,
      });
    }
    this.root = await realpath(this.config.path);
  }

  async resolveVolume(name: string): Promise<string> {
    const root = await this.domainRoot();
    const candidate = join(root, this.checkName(name));
    let real: string;
    try {
      real = await realpath(candidate);
    } catch (error) {
      throw new StorageError('volume_not_found', `volume ${name} does not exist`, { name }, { cause: error });
    }
    if (!isInside(root, real)) {
      throw new StorageError('path_outside_domain', `volume ${name} resolves outside the storage domain`, {
        name,
      });
    }
    if (!(await lstat(real)).isFile()) {
      throw new StorageError('volume_not_found', `volume ${name} is not a regular file`, { name });
    }
    return real;
  }

  async createVolume(request: CreateVolumeRequest): Promise<VolumeInfo> {
    const root = await this.domainRoot();
    const target = join(root, this.checkName(request.name));
    await mkdir(dirname(target), { recursive: true, mode: 0o750 });
    // The parent may be (or contain) a symlink planted earlier: check where it really is.
    const parent = await realpath(dirname(target));
    if (parent !== root && !isInside(root, parent)) {
      throw new StorageError(
        'path_outside_domain',
        `volume ${request.name} would be created outside the domain`,
        {
          name: request.name,
        },
      );
    }
    const path = join(parent, target.slice(dirname(target).length + 1));
    // lstat: a dangling symlink also counts as taken (qemu-img would follow it).
    if (await exists(path)) {
      throw new StorageError('volume_exists', `volume ${request.name} already exists`, {
        name: request.name,
      });
    }

    try {
      if (request.backing) {
        if (request.format !== 'qcow2') {
          throw new StorageError('image_unsupported', 'only qcow2 volumes can have a backing volume', {
            name: request.name,
          });
        }
        const backingPath = await this.resolveVolume(request.backing.name);
        // Relative, so the domain still works when mounted elsewhere or imported by another engine.
        await createOverlay({
          path,
          backingPath: relative(dirname(path), backingPath),
          backingFormat: request.backing.format,
          sizeBytes: request.sizeBytes,
        });
      } else {
        if (request.sizeBytes === undefined) {
          throw new StorageError('qemu_img_failed', 'a volume without a backing volume needs a size', {
            name: request.name,
          });
        }
        await createImage({
          path,
          format: request.format,
          sizeBytes: request.sizeBytes,
          preallocation: request.preallocation,
          encryption: request.encryption,
        });
      }
      return await this.volumeInfo(request.name, { format: request.format });
    } catch (error) {
      // Undo: a half-made volume must not block a retry under the same name.
      await unlink(path).catch(() => undefined);
      throw error;
    }
  }

  async deleteVolume(name: string): Promise<void> {
    await unlink(await this.resolveVolume(name));
  }

  async volumeInfo(
    name: string,
    options: { format: ImageFormat; forceShare?: boolean },
  ): Promise<VolumeInfo> {
    const path = await this.resolveVolume(name);
    const info = await imageInfo(path, { format: options.format, forceShare: options.forceShare });
    return {
      name,
      path,
      format: options.format,
      virtualSize: info['virtual-size'],
      actualSize: info['actual-size'],
      backingFile: info['backing-filename'],
      encrypted: info.encrypted ?? false,
    };
  }

  async capacity(): Promise<{ totalBytes: number; freeBytes: number }> {
    const stats = await statfs(await this.domainRoot());
    return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize };
  }

  private async domainRoot(): Promise<string> {
    if (!this.root) await this.activate();
    return this.root as string;
  }

  private checkName(name: string): string {
    if (typeof name !== 'string' || !VOLUME_NAME.test(name)) {
      throw new StorageError(
        'invalid_volume_name',
        'volume names are relative paths of [A-Za-z0-9._-] segments',
        {
          name,
        },
      );
    }
    return name;
  }
}
