import { AgentError } from '../../util/errors';
import type { UserspaceNfsDomain } from '../domains/service';
import {
  type DomainTree,
  fileNotFound,
  type TreeEntry,
  type TreeReader,
  type TreeStat,
  type TreeWriter,
} from '../export/tree';
import { NfsClient, type NfsTargetOptions, withNfs } from './client';
import { NfsStatusError } from './protocol';
import { nfsImageOpts, nfsUrl } from './volumes';

/** Bytes per READ/WRITE call (the client's chunk). */
const CHUNK = 32 * 1024;
/** READ or WRITE calls one reader or writer keeps in flight (bounded: 256 KiB outstanding). */
const IN_FLIGHT = 8;
/** Unstable bytes a writer leaves on the server before it COMMITs them. */
const COMMIT_EVERY = 64 * 1024 * 1024;

/** Runs `fn` over `items` with at most {@link IN_FLIGHT} at once; the first failure rejects. */
async function inParallel<T>(items: T[], fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, worker));
}

/**
 * A userspace-mode nfs domain (ADR 027) as a {@link DomainTree}: every file operation goes through
 * the agent's NFSv3 client (one short session per call; a reader or writer keeps its own session
 * until closed), and qemu-img reaches files by their `nfs://` URL. The client never follows
 * symlinks and refuses non-directories in the middle of a path.
 */
export class NfsTree implements DomainTree {
  readonly kind = 'nfs';
  readonly where: string;
  private readonly target: NfsTargetOptions;

  constructor(
    private readonly domain: UserspaceNfsDomain,
    timeoutMs = 30_000,
  ) {
    this.where = `${domain.location.server}:${domain.location.export}/${domain.domainId}`;
    this.target = { server: domain.location.server, export: domain.location.export, timeoutMs };
  }

  /** The path relative to the export. */
  private at(rel: string): string {
    return rel === '' ? this.domain.domainId : `${this.domain.domainId}/${rel}`;
  }

  pathOf(rel: string): string {
    return rel === '' ? this.domain.root : `${this.domain.root}/${rel}`;
  }

  imageName(rel: string): string {
    return nfsUrl(this.domain.location, this.at(rel));
  }

  imageOpts(rel: string, format: string, extra: string[] = []): string {
    return nfsImageOpts(this.domain.location, this.at(rel), format, extra);
  }

  private session<T>(fn: (c: NfsClient) => Promise<T>): Promise<T> {
    return withNfs(this.target, fn);
  }

  stat(rel: string): Promise<TreeStat | undefined> {
    return this.session(async (c) => {
      const a = await c.stat(this.at(rel)).catch((err: unknown) => {
        // A file where a directory should be: nothing of ours is there.
        if (err instanceof NfsStatusError && err.errno === 'ENOTDIR') return undefined;
        throw err;
      });
      return a ? { type: a.type, size: a.size, mtime: new Date(a.mtime * 1000) } : undefined;
    });
  }

  mkdir(rel: string): Promise<void> {
    return this.session((c) => c.mkdir(this.at(rel), 0o750));
  }

  list(rel: string): Promise<TreeEntry[]> {
    return this.session(async (c) => {
      const st = await c.stat(this.at(rel));
      if (!st) return [];
      if (st.type !== 'directory')
        throw new AgentError('path_not_allowed', `${this.where}/${rel}: not a directory`);
      const entries = await c.readdir(this.at(rel));
      const out: TreeEntry[] = [];
      for (const e of entries) {
        // READDIRPLUS may leave attributes out; ask for them then.
        const a = e.attr ?? (await c.stat(`${this.at(rel)}/${e.name}`));
        if (!a) continue;
        out.push({ name: e.name, type: a.type, size: a.size, mtime: new Date(a.mtime * 1000) });
      }
      return out;
    });
  }

  async openRead(rel: string): Promise<TreeReader> {
    const c = await NfsClient.connect(this.target);
    try {
      const f = await c.openFile(this.at(rel));
      if (!f) throw fileNotFound(rel);
      const what = this.at(rel);
      return {
        size: f.attr.size,
        mtime: new Date(f.attr.mtime * 1000),
        read: async (buf, offset, length, position) => {
          // Up to IN_FLIGHT READs at once (the connection matches replies by xid); the result is
          // the bytes read contiguously from `position` (a short chunk is the end of the file).
          const starts: number[] = [];
          for (let at = 0; at < length; at += CHUNK) starts.push(at);
          const got = new Array<number>(starts.length).fill(0);
          await inParallel(starts, async (at, i) => {
            const data = await c.readAt(f.fh, position + at, Math.min(CHUNK, length - at), what);
            data.copy(buf, offset + at);
            got[i] = data.length;
          });
          let total = 0;
          for (const [i, at] of starts.entries()) {
            total += got[i] ?? 0;
            if ((got[i] ?? 0) < Math.min(CHUNK, length - at)) break;
          }
          return total;
        },
        close: () => c.close(),
      };
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  async create(rel: string, mode = 0o640): Promise<TreeWriter> {
    const c = await NfsClient.connect(this.target);
    try {
      const what = this.at(rel);
      const fh = await c.createFile(what, mode);
      let offset = 0;
      let uncommitted = 0;
      // Every reply's write verifier must match the COMMIT's: a change means the server
      // restarted and may have dropped unstable data, so the file is refused, never half-kept.
      let verf: Buffer | undefined;
      const same = (v: Buffer) => {
        if (verf && !verf.equals(v))
          throw new AgentError('storage_unreachable', `the NFS server restarted while ${what} was written`);
        verf = v;
      };
      const commit = async () => {
        same(await c.commit(fh, what));
        uncommitted = 0;
      };
      return {
        write: async (data) => {
          // UNSTABLE WRITEs, up to IN_FLIGHT at once over disjoint ranges, then a COMMIT at least
          // every COMMIT_EVERY bytes: a FILE_SYNC round trip per 32 KiB was the bottleneck.
          const starts: number[] = [];
          for (let at = 0; at < data.length; at += CHUNK) starts.push(at);
          const base = offset;
          await inParallel(starts, async (at) =>
            same(await c.writeAt(fh, base + at, data.subarray(at, at + CHUNK), what, false)),
          );
          offset += data.length;
          uncommitted += data.length;
          if (uncommitted >= COMMIT_EVERY) await commit();
        },
        sync: commit,
        close: () => c.close(),
      };
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  rename(from: string, to: string): Promise<void> {
    return this.session((c) => c.rename(this.at(from), this.at(to)));
  }

  remove(rel: string): Promise<boolean> {
    return this.session((c) => c.remove(this.at(rel)));
  }

  rmdir(rel: string): Promise<boolean> {
    return this.session((c) =>
      c.rmdir(this.at(rel)).catch((err: unknown) => {
        if (err instanceof NfsStatusError && err.errno === 'ENOTEMPTY') return false;
        throw err;
      }),
    );
  }

  rmTree(rel: string): Promise<boolean> {
    return this.session((c) => c.rmTree(this.at(rel)));
  }

  free(): Promise<number> {
    return this.session(async (c) => (await c.fsstat()).availBytes);
  }
}
