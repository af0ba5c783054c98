import { constants } from 'node:fs';
import { access, lstat, mkdir, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageCapacity, StorageDomainMetadata } from '@vireo/agent-protocol';
import { AgentError } from '../../util/errors';
import { type NfsClient, withNfs } from '../nfs/client';
import { MAX_METADATA_BYTES, parseMetadata, readMetadata, writeMetadata } from './metadata';

/**
 * The few file operations the storage-domain logic needs, behind one interface so a directory the
 * kernel sees (local, posix, kernel-mounted nfs) and an nfs export reached with the agent's own
 * NFSv3 client (userspace mode, ADR 027) share the same domain code. Paths are relative to the
 * domain's location (the directory or export that holds `<domain id>/`); `''` is the location.
 */
export interface DomainFiles {
  readonly kind: 'local' | 'nfs';
  /** What a person would call the location (for messages). */
  readonly where: string;
  /** The location exists and is a directory (and writable when asked). */
  checkLocation(writable: boolean): Promise<void>;
  readMetadata(dir: string): Promise<StorageDomainMetadata | undefined>;
  writeMetadata(dir: string, md: StorageDomainMetadata): Promise<void>;
  /** Creates a directory and its parents; existing ones are fine. */
  mkdir(dir: string): Promise<void>;
  /** Entries of a directory (symlinks reported as such, never followed); [] when it is missing. */
  list(dir: string): Promise<FileEntry[]>;
  capacity(dir: string): Promise<StorageCapacity>;
}

export interface FileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mtime: Date;
}

/** A directory of this host. */
export class LocalFiles implements DomainFiles {
  readonly kind = 'local';
  constructor(readonly where: string) {}

  private at(dir: string): string {
    return dir === '' ? this.where : join(this.where, dir);
  }

  async checkLocation(writable: boolean): Promise<void> {
    const path = this.where;
    const st = await lstat(path).catch((err: unknown) => {
      throw new AgentError('storage_unreachable', `${path} does not exist`, {
        cause: err,
        details: { path },
      });
    });
    if (!st.isDirectory()) {
      throw new AgentError('storage_unreachable', `${path} is not a directory`, { details: { path } });
    }
    if (writable) {
      await access(path, constants.W_OK).catch((err: unknown) => {
        throw new AgentError('storage_unreachable', `${path} is not writable`, {
          cause: err,
          details: { path },
        });
      });
    }
  }

  readMetadata(dir: string): Promise<StorageDomainMetadata | undefined> {
    return readMetadata(this.at(dir));
  }

  writeMetadata(dir: string, md: StorageDomainMetadata): Promise<void> {
    return writeMetadata(this.at(dir), md);
  }

  async mkdir(dir: string): Promise<void> {
    await mkdir(this.at(dir), { recursive: true, mode: 0o755 });
  }

  async list(dir: string): Promise<FileEntry[]> {
    const path = this.at(dir);
    const names = await readdir(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw new AgentError('storage_unreachable', `cannot list ${path}`, { cause: err });
    });
    const out: FileEntry[] = [];
    for (const name of names) {
      const st = await lstat(join(path, name)).catch(() => undefined);
      if (!st) continue;
      const type = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'directory'
          : st.isSymbolicLink()
            ? 'symlink'
            : 'other';
      out.push({ name, type, size: st.size, mtime: st.mtime });
    }
    return out;
  }

  async capacity(dir: string): Promise<StorageCapacity> {
    const path = this.at(dir);
    const s = await statfs(path).catch((err: unknown) => {
      throw new AgentError('storage_unreachable', `statfs ${path} failed`, { cause: err });
    });
    return { total_bytes: s.blocks * s.bsize, free_bytes: s.bavail * s.bsize };
  }
}

/** Where an nfs domain lives: the server and export (from the engine's domain row). */
export interface NfsLocation {
  server: string;
  export: string;
}

/**
 * An nfs export through the agent's NFSv3 client. Each call is one short session (portmapper,
 * MOUNT, the NFS calls, UMNT): domain file operations are rare, and a session never outlives a
 * server restart or a network change.
 */
export class NfsFiles implements DomainFiles {
  readonly kind = 'nfs';
  readonly where: string;
  constructor(
    readonly location: NfsLocation,
    private readonly timeoutMs = 15_000,
  ) {
    this.where = `${location.server}:${location.export}`;
  }

  /** Runs `fn` in one session. */
  session<T>(fn: (c: NfsClient) => Promise<T>): Promise<T> {
    return withNfs(
      { server: this.location.server, export: this.location.export, timeoutMs: this.timeoutMs },
      fn,
    );
  }

  /** MOUNT succeeding is the existence check; writability shows on the first write (metadata). */
  async checkLocation(_writable: boolean): Promise<void> {
    await this.session(async (c) => {
      const st = await c.stat('');
      if (st && st.type !== 'directory') {
        throw new AgentError('storage_unreachable', `${this.where} is not a directory`);
      }
    });
  }

  readMetadata(dir: string): Promise<StorageDomainMetadata | undefined> {
    const file = `${dir}/dom_md/metadata.json`;
    return this.session(async (c) => {
      let data: Buffer | undefined;
      try {
        data = await c.readFile(file, MAX_METADATA_BYTES);
      } catch (err) {
        if (err instanceof AgentError && err.code === 'file_too_large') {
          throw new AgentError(
            'storage_metadata_invalid',
            `${this.where}/${file}: larger than ${MAX_METADATA_BYTES} bytes`,
            {
              cause: err,
            },
          );
        }
        throw err;
      }
      return data === undefined ? undefined : parseMetadata(data.toString('utf8'), `${this.where}/${file}`);
    });
  }

  writeMetadata(dir: string, md: StorageDomainMetadata): Promise<void> {
    return this.session(async (c) => {
      await c.mkdir(`${dir}/dom_md`, 0o755, true);
      await c.writeFileAtomic(`${dir}/dom_md/metadata.json`, Buffer.from(`${JSON.stringify(md, null, 2)}\n`));
    });
  }

  mkdir(dir: string): Promise<void> {
    return this.session((c) => c.mkdir(dir, 0o755, true));
  }

  list(dir: string): Promise<FileEntry[]> {
    return this.session(async (c) => {
      const st = await c.stat(dir);
      if (!st) return [];
      const entries = await c.readdir(dir);
      return entries.map((e) => ({
        name: e.name,
        type: e.attr?.type ?? 'other',
        size: e.attr?.size ?? 0,
        mtime: new Date((e.attr?.mtime ?? 0) * 1000),
      }));
    });
  }

  capacity(_dir: string): Promise<StorageCapacity> {
    return this.session(async (c) => {
      const s = await c.fsstat();
      return { total_bytes: s.totalBytes, free_bytes: s.availBytes };
    });
  }
}
