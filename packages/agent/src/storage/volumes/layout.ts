import { lstat, mkdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { AgentError } from '../../util/errors';

/**
 * Finds the directory of an active storage domain on this host: `<domain path>/<domain id>` (the
 * one holding `dom_md/` and `images/`). The storage-domain module provides it; it throws when the
 * domain is not active here, so no volume call can reach a directory the engine never activated.
 */
export type DomainRootResolver = (domainId: string) => Promise<string>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Lower-cases and checks an id that becomes a path segment (the schema checked it once already). */
export function idSegment(id: string, what: string): string {
  const lower = id.toLowerCase();
  if (!UUID.test(lower))
    throw new AgentError('invalid_params', `${what} must be a UUID`, { details: { [what]: id } });
  return lower;
}

function inside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

async function lexists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Paths of one domain's disks and volumes, each checked to stay inside the domain after symlinks. */
export class DomainLayout {
  private constructor(
    readonly domainId: string,
    /** Real path of `<domain path>/<domain id>`. */
    readonly root: string,
  ) {}

  static async open(resolve: DomainRootResolver, domainId: string): Promise<DomainLayout> {
    const id = idSegment(domainId, 'domain_id');
    // The resolver's own error (domain not active here) travels as is.
    const dir = await resolve(id);
    const root = await realpath(dir).catch((err: unknown) => {
      throw new AgentError('image_not_found', `storage domain ${id} is not reachable on this host`, {
        cause: err,
        details: { domain_id: id },
      });
    });
    return new DomainLayout(id, root);
  }

  /** `<root>/images`, the parent of every disk directory. */
  get imagesDir(): string {
    return join(this.root, 'images');
  }

  /** The lexical path of a disk's directory (not checked: use `diskDir` before touching it). */
  diskDirPath(diskId: string): string {
    return join(this.imagesDir, idSegment(diskId, 'disk_id'));
  }

  /**
   * The disk directory's real path, or `undefined` when it does not exist. Throws `path_not_allowed`
   * when it resolves outside the domain (a planted symlink).
   */
  async diskDir(diskId: string): Promise<string | undefined> {
    const lexical = this.diskDirPath(diskId);
    const stat = await lstat(lexical).catch(() => undefined);
    if (!stat) return undefined;
    // Not a symlink: a link to another disk's directory would make a delete remove that disk.
    const real = stat.isDirectory() ? await realpath(lexical) : undefined;
    if (!real || !inside(this.root, real)) {
      throw new AgentError(
        'path_not_allowed',
        `disk directory of ${diskId} is not a directory inside the domain`,
        {
          details: { domain_id: this.domainId, disk_id: diskId },
        },
      );
    }
    return real;
  }

  /** Creates the disk directory if needed and returns its real path. */
  async ensureDiskDir(diskId: string): Promise<string> {
    await mkdir(this.imagesDir, { recursive: true, mode: 0o750 });
    const existing = await this.diskDir(diskId);
    if (existing) return existing;
    await mkdir(this.diskDirPath(diskId), { mode: 0o750 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const made = await this.diskDir(diskId);
    if (!made) throw new AgentError('internal_error', `disk directory of ${diskId} vanished`);
    return made;
  }

  /** Real path of an existing volume file inside the domain; `image_not_found` when missing. */
  async volume(diskId: string, volumeId: string): Promise<string> {
    const dir = await this.diskDir(diskId);
    const name = idSegment(volumeId, 'volume_id');
    const lexical = join(dir ?? this.diskDirPath(diskId), name);
    const real = dir ? await realpath(lexical).catch(() => undefined) : undefined;
    if (!real) {
      throw new AgentError('image_not_found', `volume ${name} of disk ${diskId} does not exist`, {
        details: { domain_id: this.domainId, disk_id: diskId, volume_id: name },
      });
    }
    if (!inside(this.root, real) || !(await lstat(real)).isFile()) {
      throw new AgentError('path_not_allowed', `volume ${name} is not a regular file inside the domain`, {
        details: { domain_id: this.domainId, disk_id: diskId, volume_id: name },
      });
    }
    return real;
  }

  /** Path for a new volume (its disk directory is created); `image_exists` when something is there. */
  async newVolume(diskId: string, volumeId: string): Promise<string> {
    const dir = await this.ensureDiskDir(diskId);
    const path = join(dir, idSegment(volumeId, 'volume_id'));
    // lstat: a dangling symlink counts as taken (qemu-img would follow it).
    if (await lexists(path)) {
      throw new AgentError('image_exists', `volume ${volumeId} of disk ${diskId} already exists`, {
        details: { domain_id: this.domainId, disk_id: diskId, volume_id: volumeId },
      });
    }
    return path;
  }
}
