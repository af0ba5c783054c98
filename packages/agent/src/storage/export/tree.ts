import { constants } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  rmdir,
  statfs,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError } from '../../util/errors';
import { escapeOptValue } from '../qemu-img';

/**
 * The file operations export, import and registration code needs inside one storage domain,
 * behind one interface so a domain directory of this host ({@link LocalTree}) and a userspace-mode
 * nfs domain reached with the agent's NFSv3 client (`NfsTree`, ADR 027) run the same logic.
 *
 * Paths are relative to the domain root (`<location>/<domain id>`), `/`-separated names the caller
 * has checked. Symlinks are never followed: an intermediate component that is not a real directory
 * is refused with `path_not_allowed`, and so is a final component that is not a regular file when a
 * file is opened.
 */
export interface DomainTree {
  readonly kind: 'local' | 'nfs';
  /** What a person would call the domain root (for messages). */
  readonly where: string;
  /** Attributes of a path (not following a symlink), undefined when it does not exist. */
  stat(rel: string): Promise<TreeStat | undefined>;
  /** Creates one directory (mode 0750); an existing directory is fine. */
  mkdir(rel: string): Promise<void>;
  /** A directory's entries ([] when it is missing). */
  list(rel: string): Promise<TreeEntry[]>;
  /** Opens a regular file for positional reads; `file_not_found` when it is missing. */
  openRead(rel: string): Promise<TreeReader>;
  /** Creates a new regular file (never an existing name) for sequential writes. */
  create(rel: string, mode?: number): Promise<TreeWriter>;
  /** Atomic rename inside the domain (replaces a file at `to`), made durable. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file (or symlink); false when it did not exist. */
  remove(rel: string): Promise<boolean>;
  /** Removes an empty directory; false when it did not exist or is not empty. */
  rmdir(rel: string): Promise<boolean>;
  /** Removes a directory tree without following symlinks; false when it did not exist. */
  rmTree(rel: string): Promise<boolean>;
  /** Bytes free to the agent on the domain's file system. */
  free(): Promise<number>;
  /** How qemu-img names the file: a local path, or an `nfs://` URL. */
  imageName(rel: string): string;
  /**
   * `--image-opts` opening the file as exactly `format` (never probed), with `extra` options
   * (`backing=`, `encrypt.key-secret=…`).
   */
  imageOpts(rel: string, format: string, extra?: string[]): string;
  /** The path the rest of the agent uses for the file (volume paths, the image policy). */
  pathOf(rel: string): string;
}

export interface TreeStat {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mtime: Date;
}

export interface TreeEntry extends TreeStat {
  name: string;
}

export interface TreeReader {
  readonly size: number;
  readonly mtime: Date;
  /** Reads up to `length` bytes at `position` into `buf[offset…]`; 0 at the end of the file. */
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface TreeWriter {
  /** Appends (writes are sequential). */
  write(data: Buffer): Promise<void>;
  /** Makes what was written durable (local: fsync; nfs: COMMIT, the write verifiers compared). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export function notAllowed(where: string, rel: string, why: string): AgentError {
  return new AgentError('path_not_allowed', `${where}/${rel}: ${why}`, { details: { path: rel } });
}

export function fileNotFound(rel: string): AgentError {
  return new AgentError('file_not_found', `${rel} does not exist`, { details: { path: rel } });
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): TreeStat['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** A domain directory of this host (local, posix, kernel-mounted nfs). */
export class LocalTree implements DomainTree {
  readonly kind = 'local';
  constructor(readonly where: string) {}

  pathOf(rel: string): string {
    return rel === '' ? this.where : join(this.where, rel);
  }

  imageName(rel: string): string {
    return this.pathOf(rel);
  }

  imageOpts(rel: string, format: string, extra: string[] = []): string {
    return [
      `driver=${format}`,
      'file.driver=file',
      `file.filename=${escapeOptValue(this.pathOf(rel))}`,
      ...extra,
    ].join(',');
  }

  /** The parent directory of `rel` after checking every component above it is a real directory. */
  private async parentOf(rel: string): Promise<string> {
    const segs = rel.split('/').filter((s) => s.length > 0);
    let cur = this.where;
    for (const [i, seg] of segs.slice(0, -1).entries()) {
      cur = join(cur, seg);
      const st = await lstat(cur).catch(() => undefined);
      if (!st) throw fileNotFound(segs.slice(0, i + 1).join('/'));
      if (!st.isDirectory())
        throw notAllowed(this.where, segs.slice(0, i + 1).join('/'), 'not a directory (or a symlink)');
    }
    return cur;
  }

  async stat(rel: string): Promise<TreeStat | undefined> {
    const parent = await this.parentOf(rel).catch((err: unknown) => {
      if (err instanceof AgentError && err.code === 'file_not_found') return undefined;
      throw err;
    });
    if (parent === undefined) return undefined;
    const st = await lstat(this.pathOf(rel)).catch(() => undefined);
    return st ? { type: typeOf(st), size: st.size, mtime: st.mtime } : undefined;
  }

  async mkdir(rel: string): Promise<void> {
    await this.parentOf(rel);
    const path = this.pathOf(rel);
    await mkdir(path, { mode: 0o750 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const st = await lstat(path);
    if (!st.isDirectory()) throw notAllowed(this.where, rel, 'not a directory (or a symlink)');
  }

  async list(rel: string): Promise<TreeEntry[]> {
    const st = await this.stat(rel);
    if (!st) return [];
    if (st.type !== 'directory') throw notAllowed(this.where, rel, 'not a directory (or a symlink)');
    const dir = this.pathOf(rel);
    const out: TreeEntry[] = [];
    for (const name of await readdir(dir)) {
      const e = await lstat(join(dir, name)).catch(() => undefined);
      if (e) out.push({ name, type: typeOf(e), size: e.size, mtime: e.mtime });
    }
    return out;
  }

  async openRead(rel: string): Promise<TreeReader> {
    await this.parentOf(rel);
    const fh = await open(this.pathOf(rel), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw fileNotFound(rel);
        if (err.code === 'ELOOP') throw notAllowed(this.where, rel, 'is a symlink');
        throw err;
      },
    );
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notAllowed(this.where, rel, 'not a regular file');
      return localReader(fh, st.size, st.mtime);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async create(rel: string, mode = 0o640): Promise<TreeWriter> {
    await this.parentOf(rel);
    // O_EXCL: never opens an existing file or follows a link planted at the name.
    const fh = await open(
      this.pathOf(rel),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
    return {
      write: async (data) => {
        await fh.write(data);
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  }

  async rename(from: string, to: string): Promise<void> {
    await this.parentOf(from);
    const dir = await this.parentOf(to);
    await rename(this.pathOf(from), this.pathOf(to));
    // fsync of the directory: the rename survives a crash.
    const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await dh.sync().finally(() => dh.close());
  }

  async remove(rel: string): Promise<boolean> {
    const dir = await this.parentOf(rel);
    const removed = await unlink(this.pathOf(rel)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    // fsync of the directory: the removal survives a crash.
    if (removed) {
      const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      await dh.sync().finally(() => dh.close());
    }
    return removed;
  }

  async rmdir(rel: string): Promise<boolean> {
    await this.parentOf(rel);
    return rmdir(this.pathOf(rel)).then(
      () => true,
      () => false,
    );
  }

  async rmTree(rel: string): Promise<boolean> {
    const st = await this.stat(rel);
    if (!st) return false;
    // fs.rm removes symlinks inside the tree; it never follows them.
    await rm(this.pathOf(rel), { recursive: true, force: true });
    return true;
  }

  async free(): Promise<number> {
    const s = await statfs(this.where);
    return s.bavail * s.bsize;
  }
}

function localReader(fh: FileHandle, size: number, mtime: Date): TreeReader {
  return {
    size,
    mtime,
    read: async (buf, offset, length, position) => (await fh.read(buf, offset, length, position)).bytesRead,
    close: () => fh.close(),
  };
}

/** What our header parsers read at most (the first 2 MiB: header, extensions, names). */
const HEAD_BYTES = 2 * 1024 * 1024;

/**
 * Runs `fn` on a local path holding the start of `rel`: the file itself on a directory domain; on
 * an nfs domain, a private temporary copy of its first 2 MiB, so the image-header parsers (which
 * read local files) check remote images with unchanged code. A name or table past those bytes reads
 * as past the end of the file: refused, never followed.
 */
export async function withLocalHead<T>(
  tree: DomainTree,
  rel: string,
  fn: (path: string, size: number) => Promise<T>,
): Promise<T> {
  if (tree.kind === 'local') {
    const st = await tree.stat(rel);
    return fn(tree.pathOf(rel), st?.size ?? 0);
  }
  const reader = await tree.openRead(rel);
  let dir: string | undefined;
  try {
    const length = Math.min(reader.size, HEAD_BYTES);
    const buf = Buffer.alloc(length);
    const got = await reader.read(buf, 0, length, 0);
    dir = await mkdtemp(join(tmpdir(), 'vireo-head-'));
    const path = join(dir, 'head');
    await writeFile(path, buf.subarray(0, got), { mode: 0o600 });
    return await fn(path, reader.size);
  } finally {
    await reader.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
