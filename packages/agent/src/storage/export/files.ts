import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, realpath } from 'node:fs/promises';
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
import type { UserspaceNfsDomain } from '../domains/service';
import { NfsTree } from '../nfs/tree';
import { type DomainRootResolver, idSegment } from '../volumes/layout';
import { type DomainTree, LocalTree } from './tree';

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

/**
 * Small files under an active domain's `master/` subtree (`storage.file_*`), on a directory of this
 * host or, for a userspace-mode nfs domain (ADR 027), through the agent's NFS client. Each path
 * segment is checked on the way down: a symlink anywhere (or a file where a directory should be) is
 * refused with `path_not_allowed`, and the final file is opened without following links, so
 * nothing outside the domain is ever read, written or removed through a planted link.
 */
export class DomainFiles {
  constructor(
    private readonly resolveRoot: DomainRootResolver,
    /** The active userspace-mode nfs domain `id`, or undefined for a directory domain. */
    private readonly nfsDomain?: (id: string) => UserspaceNfsDomain | undefined,
  ) {}

  private async tree(domainId: string): Promise<DomainTree> {
    const id = idSegment(domainId, 'domain_id');
    const nfs = this.nfsDomain?.(id);
    if (nfs) return new NfsTree(nfs);
    return new LocalTree(await realpath(await this.resolveRoot(id)));
  }

  /** The domain's tree with `master/` checked (created when `create`); undefined when missing. */
  private async master(domainId: string, create: boolean): Promise<DomainTree | undefined> {
    const tree = await this.tree(domainId);
    let st = await tree.stat('master');
    if (!st && create) {
      await tree.mkdir('master');
      st = await tree.stat('master');
    }
    if (!st) return undefined;
    if (st.type !== 'directory') throw notAllowed('', 'master is not a directory');
    return tree;
  }

  /** Checks directory segments; creates missing ones when `create`; false when one is missing. */
  private async walk(tree: DomainTree, dirs: string[], create: boolean): Promise<boolean> {
    for (let i = 1; i <= dirs.length; i++) {
      const rel = `master/${dirs.slice(0, i).join('/')}`;
      let st = await tree.stat(rel);
      if (!st && create) {
        await tree.mkdir(rel);
        st = await tree.stat(rel);
      }
      if (!st) return false;
      if (st.type !== 'directory')
        throw notAllowed(dirs.slice(0, i).join('/'), 'not a directory (or a symlink)');
    }
    return true;
  }

  /** `storage.file_write`: atomic replace (temporary file, synced, renamed into place). */
  async write(p: StorageFileWriteParams): Promise<{ path: string; size_bytes: number }> {
    const segs = fileSegments(p.path);
    const data = Buffer.from(p.content, 'utf8');
    if (data.length > DOMAIN_FILE_MAX_BYTES) {
      throw new AgentError(
        'file_too_large',
        `master/${p.path} would be larger than ${DOMAIN_FILE_MAX_BYTES} bytes`,
      );
    }
    const tree = (await this.master(p.domain_id, true)) as DomainTree;
    await this.walk(tree, segs.slice(0, -1), true);
    const name = segs.at(-1) as string;
    const dir = ['master', ...segs.slice(0, -1)].join('/');
    const target = `${dir}/${name}`;
    const existing = await tree.stat(target);
    if (existing && existing.type !== 'file') throw notAllowed(p.path, 'exists and is not a regular file');
    const tmp = `${dir}/.${name}.tmp-${randomBytes(6).toString('hex')}`;
    // A new name only: never opens an existing file or follows a link planted at the temporary name.
    const out = await tree.create(tmp, 0o640);
    try {
      await out.write(data);
      await out.sync();
    } catch (err) {
      await out.close().catch(() => undefined);
      await tree.remove(tmp).catch(() => undefined);
      throw err;
    }
    await out.close();
    await tree.rename(tmp, target).catch(async (err: unknown) => {
      await tree.remove(tmp).catch(() => undefined);
      throw err;
    });
    return { path: p.path, size_bytes: data.length };
  }

  /** `storage.file_read`: a regular file of at most the cap, as UTF-8 text. */
  async read(p: StorageFileReadParams): Promise<StorageFileReadResult> {
    const segs = fileSegments(p.path);
    const missing = () =>
      new AgentError('file_not_found', `master/${p.path} does not exist`, { details: { path: p.path } });
    const tree = await this.master(p.domain_id, false);
    if (!tree || !(await this.walk(tree, segs.slice(0, -1), false))) throw missing();
    const fh = await tree.openRead(`master/${p.path}`).catch((err: unknown) => {
      if (err instanceof AgentError && err.code === 'file_not_found') throw missing();
      if (err instanceof AgentError && err.code === 'path_not_allowed')
        throw notAllowed(p.path, 'a symlink or not a regular file');
      throw err;
    });
    try {
      if (fh.size > DOMAIN_FILE_MAX_BYTES) {
        throw new AgentError(
          'file_too_large',
          `master/${p.path} is larger than ${DOMAIN_FILE_MAX_BYTES} bytes`,
        );
      }
      const buf = Buffer.alloc(fh.size);
      const bytesRead = await fh.read(buf, 0, fh.size, 0);
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
    const tree = await this.master(p.domain_id, false);
    if (!tree || !(await this.walk(tree, segs, false))) return { entries: [] };
    const entries: DomainFileEntry[] = [];
    const visit = async (rel: string[], depth: number): Promise<void> => {
      const items = await tree.list(['master', ...rel].join('/')).catch(() => []);
      items.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const item of items) {
        if (item.name.startsWith('.') || !SEGMENT.test(item.name)) continue;
        if (item.type !== 'file' && item.type !== 'directory') continue;
        if (entries.length >= MAX_LIST_ENTRIES) {
          throw new AgentError(
            'file_too_large',
            `more than ${MAX_LIST_ENTRIES} entries under master/${segs.join('/')}`,
          );
        }
        const path = [...rel, item.name].join('/');
        const kind = item.type === 'directory' ? 'dir' : 'file';
        entries.push({
          path,
          kind,
          size_bytes: kind === 'file' ? item.size : 0,
          modified_at: item.mtime.toISOString(),
        });
        if (kind === 'dir' && p.recursive && depth < MAX_SEGMENTS)
          await visit([...rel, item.name], depth + 1);
      }
    };
    await visit(segs, segs.length);
    return { entries };
  }

  /** `storage.file_delete`: a file (or a symlink itself), or a directory tree with `recursive`. */
  async delete(p: StorageFileDeleteParams): Promise<{ deleted: boolean }> {
    const segs = fileSegments(p.path);
    const tree = await this.master(p.domain_id, false);
    if (!tree || !(await this.walk(tree, segs.slice(0, -1), false))) return { deleted: false };
    const target = `master/${p.path}`;
    const st = await tree.stat(target);
    if (!st) return { deleted: false };
    if (st.type === 'directory') {
      if (!p.recursive) throw notAllowed(p.path, 'is a directory (pass recursive)');
      await tree.rmTree(target);
    } else {
      await tree.remove(target);
    }
    return { deleted: true };
  }
}
