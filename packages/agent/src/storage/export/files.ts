import { randomBytes } from 'node:crypto';
import { type Stats, constants } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DOMAIN_FILE_MAX_BYTES,
  type DomainFileEntry,
  type StorageFileDeleteParams,
  type StorageFileListParams,
  type StorageFileReadParams,
  type StorageFileReadResult,
  type StorageFileWriteParams,
} from '@vireo/agent-protocol';
import { AgentError } from '../../util/errors';
import { type DomainRootResolver, idSegment } from '../volumes/layout';

/**
 * The lstat of a directory entry of a domain, after creating it (0750) when it is missing and
 * `create`; undefined when it is missing. A concurrent creation is no error. The caller checks that
 * it is a directory (lstat: a symlink there is not one).
 */
export async function lstatMaybeCreating(path: string, create: boolean): Promise<Stats | undefined> {
  const st = await lstat(path).catch(() => undefined);
  if (st || !create) return st;
  await mkdir(path, { mode: 0o750 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return lstat(path);
}

const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;
const MAX_SEGMENTS = 8;
const MAX_LIST_ENTRIES = 10_000;

/** Splits and checks a relative path below `master/`: safe names only, no `.`/`..`, ≤ 8 segments. */
export function fileSegments(path: string): string[] {
  const segs = path.split('/');
  const ok =
    segs.length >= 1 &&
    segs.length <= MAX_SEGMENTS &&
    segs.every((s) => SEGMENT.test(s) && s !== '.' && s !== '..');
  if (!ok) {
    throw new AgentError('path_not_allowed', `"${path.slice(0, 200)}" is not a relative path of safe names`, {
      details: { path: path.slice(0, 200) },
    });
  }
  return segs;
}

function notAllowed(rel: string, why: string): AgentError {
  return new AgentError('path_not_allowed', `master/${rel}: ${why}`, { details: { path: rel } });
}

/** fsync a directory so a rename or unlink in it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Small files under an active domain's `master/` subtree (`storage.file_*`). Each path segment is
 * checked with lstat on the way down: a symlink anywhere (or a file where a directory should be) is
 * refused with `path_not_allowed`, and the final open uses O_NOFOLLOW, so nothing outside the
 * domain is ever read, written or removed through a planted link.
 */
export class DomainFiles {
  constructor(private readonly resolveRoot: DomainRootResolver) {}

  /** Real path of `<domain root>/master`, created when `create`; undefined when missing. */
  private async master(domainId: string, create: boolean): Promise<string | undefined> {
    const root = await realpath(await this.resolveRoot(idSegment(domainId, 'domain_id')));
    const master = join(root, 'master');
    const st = await lstatMaybeCreating(master, create);
    if (!st) return undefined;
    if (!st.isDirectory()) throw notAllowed('', 'master is not a directory');
    return master;
  }

  /** Walks directory segments with lstat; creates missing ones when `create`; undefined when missing. */
  private async walk(master: string, dirs: string[], create: boolean): Promise<string | undefined> {
    let cur = master;
    for (const [i, seg] of dirs.entries()) {
      const next = join(cur, seg);
      const st = await lstatMaybeCreating(next, create);
      if (!st) return undefined;
      if (!st.isDirectory())
        throw notAllowed(dirs.slice(0, i + 1).join('/'), 'not a directory (or a symlink)');
      cur = next;
    }
    return cur;
  }

  /** `storage.file_write`: atomic replace (temporary file, fsync, rename, fsync of the directory). */
  async write(p: StorageFileWriteParams): Promise<{ path: string; size_bytes: number }> {
    const segs = fileSegments(p.path);
    const data = Buffer.from(p.content, 'utf8');
    if (data.length > DOMAIN_FILE_MAX_BYTES) {
      throw new AgentError(
        'file_too_large',
        `master/${p.path} would be larger than ${DOMAIN_FILE_MAX_BYTES} bytes`,
      );
    }
    const master = (await this.master(p.domain_id, true)) as string;
    const dir = (await this.walk(master, segs.slice(0, -1), true)) as string;
    const name = segs.at(-1) as string;
    const target = join(dir, name);
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !existing.isFile()) throw notAllowed(p.path, 'exists and is not a regular file');
    const tmp = join(dir, `.${name}.tmp-${randomBytes(6).toString('hex')}`);
    // O_EXCL: never opens an existing file or follows a link planted at the temporary name.
    const fh = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o640,
    );
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await rename(tmp, target).catch(async (err: unknown) => {
      await unlink(tmp).catch(() => undefined);
      throw err;
    });
    await syncDir(dir);
    return { path: p.path, size_bytes: data.length };
  }

  /** `storage.file_read`: a regular file of at most the cap, as UTF-8 text. */
  async read(p: StorageFileReadParams): Promise<StorageFileReadResult> {
    const segs = fileSegments(p.path);
    const missing = () =>
      new AgentError('file_not_found', `master/${p.path} does not exist`, { details: { path: p.path } });
    const master = await this.master(p.domain_id, false);
    const dir = master && (await this.walk(master, segs.slice(0, -1), false));
    if (!dir) throw missing();
    const fh = await open(join(dir, segs.at(-1) as string), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw missing();
        if (err.code === 'ELOOP') throw notAllowed(p.path, 'is a symlink');
        throw err;
      },
    );
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notAllowed(p.path, 'not a regular file');
      if (st.size > DOMAIN_FILE_MAX_BYTES) {
        throw new AgentError(
          'file_too_large',
          `master/${p.path} is larger than ${DOMAIN_FILE_MAX_BYTES} bytes`,
        );
      }
      const buf = Buffer.alloc(st.size);
      const { bytesRead } = await fh.read(buf, 0, st.size, 0);
      let content: string;
      try {
        content = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, bytesRead));
      } catch (err) {
        throw new AgentError('invalid_params', `master/${p.path} is not UTF-8 text`, { cause: err });
      }
      return { path: p.path, content, size_bytes: bytesRead };
    } finally {
      await fh.close();
    }
  }

  /** `storage.file_list`: files and directories (symlinks and temporary files are left out). */
  async list(p: StorageFileListParams): Promise<{ entries: DomainFileEntry[] }> {
    const segs = p.dir === undefined ? [] : fileSegments(p.dir);
    const master = await this.master(p.domain_id, false);
    const start = master && (await this.walk(master, segs, false));
    if (!start) return { entries: [] };
    const entries: DomainFileEntry[] = [];
    const visit = async (dir: string, rel: string[], depth: number): Promise<void> => {
      const items = await readdir(dir, { withFileTypes: true }).catch(() => []);
      items.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const item of items) {
        if (item.name.startsWith('.') || !SEGMENT.test(item.name)) continue;
        if (!item.isFile() && !item.isDirectory()) continue;
        if (entries.length >= MAX_LIST_ENTRIES) {
          throw new AgentError(
            'file_too_large',
            `more than ${MAX_LIST_ENTRIES} entries under master/${segs.join('/')}`,
          );
        }
        const full = join(dir, item.name);
        const st = await lstat(full).catch(() => undefined);
        if (!st) continue;
        const path = [...rel, item.name].join('/');
        const kind = st.isDirectory() ? 'dir' : 'file';
        entries.push({
          path,
          kind,
          size_bytes: kind === 'file' ? st.size : 0,
          modified_at: st.mtime.toISOString(),
        });
        if (kind === 'dir' && p.recursive && depth < MAX_SEGMENTS)
          await visit(full, [...rel, item.name], depth + 1);
      }
    };
    await visit(start, segs, segs.length);
    return { entries };
  }

  /** `storage.file_delete`: a file (or a symlink itself), or a directory tree with `recursive`. */
  async delete(p: StorageFileDeleteParams): Promise<{ deleted: boolean }> {
    const segs = fileSegments(p.path);
    const master = await this.master(p.domain_id, false);
    const dir = master && (await this.walk(master, segs.slice(0, -1), false));
    if (!dir) return { deleted: false };
    const target = join(dir, segs.at(-1) as string);
    const st = await lstat(target).catch(() => undefined);
    if (!st) return { deleted: false };
    if (st.isDirectory()) {
      if (!p.recursive) throw notAllowed(p.path, 'is a directory (pass recursive)');
      // fs.rm removes symlinks inside the tree; it never follows them.
      await rm(target, { recursive: true, force: true });
    } else {
      await unlink(target);
    }
    await syncDir(dir);
    return { deleted: true };
  }
}
