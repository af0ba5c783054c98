import { randomBytes } from 'node:crypto';
import { AgentError } from '../../util/errors';
import {
  checkName,
  dirop,
  type Fattr,
  FHSIZE3,
  IPPROTO_TCP,
  MAX_NAME,
  MAX_PATH,
  MOUNT3,
  NFS3,
  NfsStatusError,
  PORTMAP,
  readFattr,
  readPostOpAttr,
  readPostOpFh,
  sattr,
  skipWcc,
  status,
} from './protocol';
import { RpcConnection, type RpcConnectOptions } from './rpc';
import { malformed, type XdrReader, XdrWriter } from './xdr';

/**
 * A small NFSv3 client (RFC 1813) for the few file operations a storage domain needs when the host
 * has no kernel NFS client: metadata files, directories, deleting volumes, listing, capacity. Image
 * data never goes through it — QEMU's own `nfs` block driver reads and writes disks.
 *
 * Paths are relative to the export, `/`-separated, and every component is checked (no `..`, no
 * empty or over-long names), so nothing outside the export can be named. Symlinks are never
 * followed: a LOOKUP that lands on one is refused when it is not the last component.
 */

export interface NfsTargetOptions {
  server: string;
  /** The export path as the server's MOUNT service knows it (`/exports/vireo`). */
  export: string;
  timeoutMs?: number;
  /** Test hook: where the portmapper listens (111). */
  portmapPort?: number;
}

export interface DirEntry {
  name: string;
  attr: Fattr | undefined;
}

export interface FsStat {
  totalBytes: number;
  freeBytes: number;
  /** Free to the caller (quotas, reserved blocks). */
  availBytes: number;
}

/** Chunk size for READ and WRITE: one call each, well under the record cap. */
const IO_CHUNK = 32 * 1024;
/** A directory with more entries than this is not one of ours. */
const MAX_DIR_ENTRIES = 100_000;
const MAX_DEPTH = 16;
const UNSTABLE = 0;
const FILE_SYNC = 2;
/** NFSPROC3_COMMIT. */
const NFS3_COMMIT = 21;

/** A changed write verifier: the server restarted and may have lost unstable writes. */
function serverRestarted(what: string): AgentError {
  return new AgentError(
    'storage_unreachable',
    `NFS server restarted while ${what} was written; write it again`,
    {
      details: { path: what },
    },
  );
}
const UNCHECKED = 0;
const GUARDED = 1;

function splitPath(path: string): string[] {
  if (path.length > MAX_PATH) throw new AgentError('invalid_params', 'NFS path too long');
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const p of parts) checkName(p);
  return parts;
}

function parentAndName(path: string): { parent: string[]; name: string } {
  const parts = splitPath(path);
  const name = parts.pop();
  if (name === undefined) throw new AgentError('invalid_params', 'the export root has no name');
  return { parent: parts, name };
}

/** Asks the portmapper where a program listens over TCP (0: not registered). */
async function getPort(o: RpcConnectOptions, prog: number, vers: number): Promise<number> {
  const pm = await RpcConnection.connect(o);
  try {
    const r = await pm.call(
      PORTMAP.prog,
      PORTMAP.vers,
      PORTMAP.GETPORT,
      new XdrWriter().u32(prog).u32(vers).u32(IPPROTO_TCP).u32(0).bytes(),
    );
    const port = r.u32('port');
    if (port > 65535) throw malformed(`port ${port}`);
    return port;
  } finally {
    pm.close();
  }
}

/** One session against one export: MOUNT once, then NFS calls over one connection. */
export class NfsClient {
  private constructor(
    private readonly nfs: RpcConnection,
    private readonly rootFh: Buffer,
    private readonly target: NfsTargetOptions,
    private readonly base: Omit<RpcConnectOptions, 'port'>,
    private readonly mountPort: number,
  ) {}

  /** Looks up the services, mounts the export and opens the NFS connection. */
  static async connect(t: NfsTargetOptions): Promise<NfsClient> {
    if (!t.export.startsWith('/') || t.export.length > MAX_PATH) {
      throw new AgentError('invalid_params', 'an NFS export is an absolute path');
    }
    const base = { host: t.server, timeoutMs: t.timeoutMs ?? 15_000, privilegedPort: true };
    const pm = { ...base, port: t.portmapPort ?? PORTMAP.port };
    const mountPort = await getPort(pm, MOUNT3.prog, MOUNT3.vers);
    if (mountPort === 0) {
      throw new AgentError('storage_unreachable', `${t.server} offers no MOUNT v3 service over TCP`, {
        details: { server: t.server },
      });
    }
    const nfsPort = (await getPort(pm, NFS3.prog, NFS3.vers)) || NFS3.port;
    const mnt = await RpcConnection.connect({ ...base, port: mountPort });
    let fh: Buffer;
    try {
      const r = await mnt.call(
        MOUNT3.prog,
        MOUNT3.vers,
        MOUNT3.MNT,
        new XdrWriter().string(t.export, MAX_PATH).bytes(),
      );
      const st = r.u32('mountstat3');
      if (st !== 0) {
        throw new AgentError(
          'storage_unreachable',
          `${t.server} refused to mount ${t.export} (mountstat3 ${st})`,
          {
            details: { server: t.server, export: t.export, mountstat3: st },
          },
        );
      }
      fh = r.opaque(FHSIZE3, 'root file handle');
      if (fh.length === 0) throw malformed('empty root file handle');
    } finally {
      mnt.close();
    }
    const nfs = await RpcConnection.connect({ ...base, port: nfsPort });
    return new NfsClient(nfs, fh, t, base, mountPort);
  }

  /** Closes the NFS connection and tells the server the mount is gone (best effort). */
  async close(): Promise<void> {
    this.nfs.close();
    try {
      const mnt = await RpcConnection.connect({ ...this.base, port: this.mountPort, timeoutMs: 5_000 });
      try {
        await mnt.call(
          MOUNT3.prog,
          MOUNT3.vers,
          MOUNT3.UMNT,
          new XdrWriter().string(this.target.export, MAX_PATH).bytes(),
        );
      } finally {
        mnt.close();
      }
    } catch {
      // UMNT is advisory (the server's list of mounts); nothing depends on it.
    }
  }

  private call(proc: number, args: XdrWriter): Promise<XdrReader> {
    return this.nfs.call(NFS3.prog, NFS3.vers, proc, args.bytes());
  }

  private async lookupIn(
    dir: Buffer,
    name: string,
    what: string,
  ): Promise<{ fh: Buffer; attr: Fattr | undefined }> {
    const r = await this.call(NFS3.LOOKUP, dirop(new XdrWriter(), dir, name));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'LOOKUP', what);
    const fh = r.opaque(FHSIZE3, 'file handle');
    const attr = readPostOpAttr(r);
    return { fh, attr };
  }

  /** Walks the path from the export root; intermediate components must be directories. */
  private async walk(parts: string[]): Promise<{ fh: Buffer; attr: Fattr | undefined }> {
    let cur: { fh: Buffer; attr: Fattr | undefined } = { fh: this.rootFh, attr: undefined };
    for (let i = 0; i < parts.length; i++) {
      if (i > 0 && cur.attr && cur.attr.type !== 'directory') {
        throw new NfsStatusError(20, 'LOOKUP', parts.slice(0, i).join('/'));
      }
      cur = await this.lookupIn(cur.fh, parts[i] as string, parts.slice(0, i + 1).join('/'));
    }
    return cur;
  }

  private async dirHandle(parts: string[], what: string): Promise<Buffer> {
    const d = await this.walk(parts);
    const attr = d.attr ?? (await this.getattr(d.fh, what));
    if (attr.type !== 'directory') throw new NfsStatusError(20, 'LOOKUP', what);
    return d.fh;
  }

  private async getattr(fh: Buffer, what: string): Promise<Fattr> {
    const r = await this.call(NFS3.GETATTR, new XdrWriter().opaque(fh, FHSIZE3));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'GETATTR', what);
    return readFattr(r);
  }

  /** A path's handle and attributes (symlinks not followed), or undefined when it does not exist. */
  private async lookupPath(path: string): Promise<{ fh: Buffer; attr: Fattr } | undefined> {
    try {
      const f = await this.walk(splitPath(path));
      return { fh: f.fh, attr: f.attr ?? (await this.getattr(f.fh, path)) };
    } catch (err) {
      if (err instanceof NfsStatusError && err.errno === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Attributes of a path (symlinks not followed), or undefined when it does not exist. */
  async stat(path: string): Promise<Fattr | undefined> {
    return (await this.lookupPath(path))?.attr;
  }

  /** A regular file's content, or undefined when missing; `file_too_large` above `maxBytes`. */
  async readFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
    const f = await this.lookupPath(path);
    if (!f) return undefined;
    const attr = f.attr;
    if (attr.type !== 'file') throw new NfsStatusError(21, 'READ', path);
    if (attr.size > maxBytes) {
      throw new AgentError('file_too_large', `${path} is larger than ${maxBytes} bytes`, {
        details: { path, size: attr.size },
      });
    }
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const r = await this.call(NFS3.READ, new XdrWriter().opaque(f.fh, FHSIZE3).u64(offset).u32(IO_CHUNK));
      const st = status(r);
      if (st !== 0) throw new NfsStatusError(st, 'READ', path);
      readPostOpAttr(r);
      const count = r.u32('count');
      const eof = r.bool('eof');
      const data = r.opaque(IO_CHUNK, 'data');
      if (data.length !== count) throw malformed('READ count differs from the data length');
      offset += data.length;
      if (offset > maxBytes) {
        throw new AgentError('file_too_large', `${path} is larger than ${maxBytes} bytes`, {
          details: { path },
        });
      }
      parts.push(data);
      if (eof) break;
      // No data and no eof would loop forever.
      if (data.length === 0) throw malformed('READ returned no data before the end of the file');
    }
    return Buffer.concat(parts);
  }

  /**
   * Attributes and up to `length` bytes from the start of a regular file (image headers); the
   * path must not be a symlink. Undefined when it does not exist.
   */
  async readHead(path: string, length: number): Promise<{ attr: Fattr; head: Buffer } | undefined> {
    const f = await this.lookupPath(path);
    if (!f) return undefined;
    const attr = f.attr;
    if (attr.type !== 'file') return { attr, head: Buffer.alloc(0) };
    const count = Math.min(length, IO_CHUNK);
    const r = await this.call(NFS3.READ, new XdrWriter().opaque(f.fh, FHSIZE3).u64(0).u32(count));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'READ', path);
    readPostOpAttr(r);
    const got = r.u32('count');
    r.bool('eof');
    const head = r.opaque(count, 'data');
    if (head.length !== got) throw malformed('READ count differs from the data length');
    return { attr, head };
  }

  private async create(
    dir: Buffer,
    name: string,
    mode: number,
    guarded: boolean,
    what: string,
  ): Promise<Buffer> {
    const w = dirop(new XdrWriter(), dir, name).u32(guarded ? GUARDED : UNCHECKED);
    const r = await this.call(NFS3.CREATE, sattr(w, mode, 0));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'CREATE', what);
    const fh = readPostOpFh(r);
    return fh ?? (await this.lookupIn(dir, name, what)).fh;
  }

  private async writeAll(fh: Buffer, data: Buffer, what: string): Promise<void> {
    for (let offset = 0; offset < data.length || offset === 0; ) {
      const chunk = data.subarray(offset, offset + IO_CHUNK);
      if (chunk.length === 0) return;
      const r = await this.call(
        NFS3.WRITE,
        new XdrWriter()
          .opaque(fh, FHSIZE3)
          .u64(offset)
          .u32(chunk.length)
          .u32(FILE_SYNC)
          .opaque(chunk, IO_CHUNK),
      );
      const st = status(r);
      if (st !== 0) throw new NfsStatusError(st, 'WRITE', what);
      skipWcc(r);
      const count = r.u32('count');
      const committed = r.u32('committed');
      if (count === 0 || count > chunk.length) throw malformed(`WRITE count ${count}`);
      // Anything less than FILE_SYNC would need a COMMIT; ask for it and refuse less.
      if (committed !== FILE_SYNC) throw malformed(`WRITE committed as ${committed}, not FILE_SYNC`);
      offset += count;
    }
  }

  /**
   * Writes a file atomically: a temporary name in the same directory, written with FILE_SYNC, then
   * RENAME over the target (atomic on the server), like the local metadata writer does.
   */
  async writeFileAtomic(path: string, data: Buffer, mode = 0o644): Promise<void> {
    const { parent, name } = parentAndName(path);
    const dir = await this.dirHandle(parent, parent.join('/'));
    const tmp = `${name.slice(0, MAX_NAME - 20)}.tmp-${randomBytes(6).toString('hex')}`;
    const fh = await this.create(dir, tmp, mode, true, path);
    try {
      await this.writeAll(fh, data, path);
      const w = dirop(new XdrWriter(), dir, tmp);
      const r = await this.call(NFS3.RENAME, dirop(w, dir, name));
      const st = status(r);
      if (st !== 0) throw new NfsStatusError(st, 'RENAME', path);
    } catch (err) {
      await this.removeIn(dir, tmp, path).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Opens a regular file for positional reads (`readAt`): its handle and attributes, undefined when
   * it does not exist. A symlink or any other non-file is refused (never followed).
   */
  async openFile(path: string): Promise<{ fh: Buffer; attr: Fattr } | undefined> {
    const f = await this.lookupPath(path);
    if (!f) return undefined;
    const attr = f.attr;
    if (attr.type !== 'file') {
      throw new AgentError('path_not_allowed', `${path} is not a regular file`, { details: { path } });
    }
    return { fh: f.fh, attr };
  }

  /** Up to `length` (≤ 32 KiB per call here) bytes at `offset` of an opened file; empty at its end. */
  async readAt(fh: Buffer, offset: number, length: number, what: string): Promise<Buffer> {
    const count = Math.min(length, IO_CHUNK);
    const r = await this.call(NFS3.READ, new XdrWriter().opaque(fh, FHSIZE3).u64(offset).u32(count));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'READ', what);
    readPostOpAttr(r);
    const got = r.u32('count');
    r.bool('eof');
    const data = r.opaque(count, 'data');
    if (data.length !== got) throw malformed('READ count differs from the data length');
    return data;
  }

  /** Creates a new file (GUARDED: an existing name is `EEXIST`) and returns its handle. */
  async createFile(path: string, mode = 0o640): Promise<Buffer> {
    const { parent, name } = parentAndName(path);
    const dir = await this.dirHandle(parent, parent.join('/'));
    return this.create(dir, name, mode, true, path);
  }

  /**
   * Writes `data` at `offset` of an opened file and returns the server's write verifier. `stable`
   * (the default) asks FILE_SYNC for every chunk and refuses less; otherwise the writes are
   * UNSTABLE and the data is safe only after a {@link commit} answering the same verifier.
   */
  async writeAt(fh: Buffer, offset: number, data: Buffer, what: string, stable = true): Promise<Buffer> {
    let done = 0;
    let verf: Buffer | undefined;
    while (done < data.length) {
      const chunk = data.subarray(done, done + IO_CHUNK);
      const r = await this.call(
        NFS3.WRITE,
        new XdrWriter()
          .opaque(fh, FHSIZE3)
          .u64(offset + done)
          .u32(chunk.length)
          .u32(stable ? FILE_SYNC : UNSTABLE)
          .opaque(chunk, IO_CHUNK),
      );
      const st = status(r);
      if (st !== 0) throw new NfsStatusError(st, 'WRITE', what);
      skipWcc(r);
      const count = r.u32('count');
      const committed = r.u32('committed');
      const v = r.fixed(8, 'writeverf');
      if (count === 0 || count > chunk.length) throw malformed(`WRITE count ${count}`);
      if (committed > FILE_SYNC) throw malformed(`WRITE committed as ${committed}`);
      if (stable && committed !== FILE_SYNC)
        throw malformed(`WRITE committed as ${committed}, not FILE_SYNC`);
      if (verf && !verf.equals(v)) throw serverRestarted(what);
      verf = v;
      done += count;
    }
    return verf ?? Buffer.alloc(8);
  }

  /** COMMITs every UNSTABLE write of an opened file; returns the server's write verifier. */
  async commit(fh: Buffer, what: string): Promise<Buffer> {
    const r = await this.call(NFS3_COMMIT, new XdrWriter().opaque(fh, FHSIZE3).u64(0).u32(0));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'COMMIT', what);
    skipWcc(r);
    return r.fixed(8, 'writeverf');
  }

  /** Renames within the export (atomic on the server; replaces an existing file at `to`). */
  async rename(from: string, to: string): Promise<void> {
    const a = parentAndName(from);
    const b = parentAndName(to);
    const fromDir = await this.dirHandle(a.parent, a.parent.join('/'));
    const toDir = await this.dirHandle(b.parent, b.parent.join('/'));
    const r = await this.call(NFS3.RENAME, dirop(dirop(new XdrWriter(), fromDir, a.name), toDir, b.name));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'RENAME', to);
  }

  /** Creates a directory; an existing directory is fine (`recursive` makes the parents too). */
  async mkdir(path: string, mode = 0o755, recursive = false): Promise<void> {
    const parts = splitPath(path);
    const start = recursive ? 1 : parts.length;
    for (let i = Math.max(start, 1); i <= parts.length; i++) {
      const dir = await this.dirHandle(parts.slice(0, i - 1), parts.slice(0, i - 1).join('/'));
      const r = await this.call(NFS3.MKDIR, sattr(dirop(new XdrWriter(), dir, parts[i - 1] as string), mode));
      const st = status(r);
      if (st === 0) continue;
      const err = new NfsStatusError(st, 'MKDIR', parts.slice(0, i).join('/'));
      if (err.errno !== 'EEXIST') throw err;
      const existing = await this.stat(parts.slice(0, i).join('/'));
      if (existing?.type !== 'directory') throw err;
    }
  }

  /** Entries of a directory (without `.` and `..`), with attributes when the server sent them. */
  async readdir(path: string): Promise<DirEntry[]> {
    const dir = await this.dirHandle(splitPath(path), path);
    const out: DirEntry[] = [];
    let cookie = 0n;
    let verf: Buffer = Buffer.alloc(8);
    for (;;) {
      const r = await this.call(
        NFS3.READDIRPLUS,
        new XdrWriter()
          .opaque(dir, FHSIZE3)
          .u64(cookie)
          .fixed(verf)
          .u32(16 * 1024)
          .u32(64 * 1024),
      );
      const st = status(r);
      if (st !== 0) throw new NfsStatusError(st, 'READDIRPLUS', path);
      readPostOpAttr(r);
      verf = r.fixed(8, 'cookieverf');
      let progressed = false;
      while (r.bool('value_follows')) {
        r.u64Big('fileid');
        const name = r.string(MAX_NAME, 'entry name');
        const next = r.u64Big('cookie');
        const attr = readPostOpAttr(r);
        readPostOpFh(r);
        if (next !== cookie) progressed = true;
        cookie = next;
        if (name === '.' || name === '..') continue;
        out.push({ name, attr });
        if (out.length > MAX_DIR_ENTRIES) throw malformed(`more than ${MAX_DIR_ENTRIES} entries in ${path}`);
      }
      if (r.bool('eof')) return out;
      // A page without progress would make us ask for the same page forever.
      if (!progressed) throw malformed('READDIRPLUS made no progress');
    }
  }

  private async removeIn(dir: Buffer, name: string, what: string, rmdir = false): Promise<void> {
    const r = await this.call(rmdir ? NFS3.RMDIR : NFS3.REMOVE, dirop(new XdrWriter(), dir, name));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, rmdir ? 'RMDIR' : 'REMOVE', what);
  }

  /** Removes a file (or symlink); false when it did not exist. */
  async remove(path: string): Promise<boolean> {
    return this.unlinkPath(path, false);
  }

  /** Removes an empty directory; false when it did not exist. */
  async rmdir(path: string): Promise<boolean> {
    return this.unlinkPath(path, true);
  }

  private async unlinkPath(path: string, dir: boolean): Promise<boolean> {
    const { parent, name } = parentAndName(path);
    try {
      await this.removeIn(await this.dirHandle(parent, parent.join('/')), name, path, dir);
      return true;
    } catch (err) {
      if (err instanceof NfsStatusError && err.errno === 'ENOENT') return false;
      throw err;
    }
  }

  /** Removes a directory tree (symlinks removed, never followed); false when it did not exist. */
  async rmTree(path: string, depth = 0): Promise<boolean> {
    if (depth > MAX_DEPTH)
      throw new AgentError('storage_unreachable', `${path} is nested too deeply to remove`);
    const st = await this.stat(path);
    if (!st) return false;
    if (st.type !== 'directory') return this.remove(path);
    for (const e of await this.readdir(path)) {
      const child = `${path}/${e.name}`;
      if (e.attr?.type === 'directory' || (!e.attr && (await this.stat(child))?.type === 'directory')) {
        await this.rmTree(child, depth + 1);
      } else {
        await this.remove(child);
      }
    }
    return this.rmdir(path);
  }

  /** Capacity of the exported file system. */
  async fsstat(): Promise<FsStat> {
    const r = await this.call(NFS3.FSSTAT, new XdrWriter().opaque(this.rootFh, FHSIZE3));
    const st = status(r);
    if (st !== 0) throw new NfsStatusError(st, 'FSSTAT', this.target.export);
    readPostOpAttr(r);
    const totalBytes = r.u64('tbytes');
    const freeBytes = r.u64('fbytes');
    const availBytes = r.u64('abytes');
    return { totalBytes, freeBytes, availBytes };
  }
}

/** Runs `fn` in a fresh session and always closes it. */
export async function withNfs<T>(t: NfsTargetOptions, fn: (c: NfsClient) => Promise<T>): Promise<T> {
  const c = await NfsClient.connect(t);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
