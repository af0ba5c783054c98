import { AgentError } from '../../util/errors';
import { malformed, type XdrReader, XdrWriter } from './xdr';

/** Program numbers and procedures (RFC 1833 portmapper v2, RFC 1813 MOUNT v3 and NFS v3). */
export const PORTMAP = { prog: 100000, vers: 2, port: 111, GETPORT: 3 } as const;
export const MOUNT3 = { prog: 100005, vers: 3, MNT: 1, UMNT: 3 } as const;
export const NFS3 = {
  prog: 100003,
  vers: 3,
  port: 2049,
  GETATTR: 1,
  LOOKUP: 3,
  READ: 6,
  WRITE: 7,
  CREATE: 8,
  MKDIR: 9,
  REMOVE: 12,
  RMDIR: 13,
  RENAME: 14,
  READDIRPLUS: 17,
  FSSTAT: 18,
} as const;
export const IPPROTO_TCP = 6;

/** NFSv3 file handles are at most 64 bytes; names at most 255 (the client's own cap). */
export const FHSIZE3 = 64;
export const MAX_NAME = 255;
export const MAX_PATH = 1024;

/** nfsstat3 values the callers look at, with their errno-like names. */
const STATUS_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  5: 'EIO',
  6: 'ENXIO',
  13: 'EACCES',
  17: 'EEXIST',
  18: 'EXDEV',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  27: 'EFBIG',
  28: 'ENOSPC',
  30: 'EROFS',
  31: 'EMLINK',
  63: 'ENAMETOOLONG',
  66: 'ENOTEMPTY',
  69: 'EDQUOT',
  70: 'ESTALE',
  10001: 'BADHANDLE',
  10004: 'NOTSUPP',
  10005: 'TOOSMALL',
  10006: 'SERVERFAULT',
  10008: 'JUKEBOX',
};

/** An NFS operation the server answered with an error status. */
export class NfsStatusError extends AgentError {
  /** `ENOENT`, `EEXIST`, … (or `NFS3ERR_<n>` for unlisted values). */
  readonly errno: string;
  constructor(
    readonly status: number,
    op: string,
    what: string,
  ) {
    const errno = STATUS_NAMES[status] ?? `NFS3ERR_${status}`;
    super('storage_unreachable', `NFS ${op} ${what} failed: ${errno}`, {
      details: { nfs_status: status, errno, op },
    });
    this.errno = errno;
  }
}

export type FileType = 'file' | 'directory' | 'symlink' | 'other';

export interface Fattr {
  type: FileType;
  mode: number;
  size: number;
  /** Seconds since the epoch (nanoseconds dropped). */
  mtime: number;
}

const FTYPES: Record<number, FileType> = { 1: 'file', 2: 'directory', 5: 'symlink' };

export function readFattr(r: XdrReader): Fattr {
  const t = r.u32('ftype');
  if (t < 1 || t > 7) throw malformed(`file type ${t}`);
  const mode = r.u32('mode');
  r.skip(12, 'nlink/uid/gid');
  const size = r.u64('size');
  r.skip(8 + 8 + 8 + 8, 'used/rdev/fsid/fileid');
  r.skip(8, 'atime');
  const mtime = r.u32('mtime');
  r.skip(4 + 8, 'mtime nsec/ctime');
  return { type: FTYPES[t] ?? 'other', mode, size, mtime };
}

export function readPostOpAttr(r: XdrReader): Fattr | undefined {
  return r.bool('attributes_follow') ? readFattr(r) : undefined;
}

export function skipWcc(r: XdrReader): void {
  if (r.bool('pre_op_attr')) r.skip(24, 'wcc_attr');
  readPostOpAttr(r);
}

export function readPostOpFh(r: XdrReader): Buffer | undefined {
  return r.bool('handle_follows') ? r.opaque(FHSIZE3, 'file handle') : undefined;
}

/** diropargs3: a directory handle and a name in it (the name checked before it goes out). */
export function dirop(w: XdrWriter, dir: Buffer, name: string): XdrWriter {
  checkName(name);
  return w.opaque(dir, FHSIZE3).string(name, MAX_NAME);
}

/** A single path component: no separators, no `.`/`..`, no NUL, not empty, bounded. */
export function checkName(name: string): void {
  if (
    name.length === 0 ||
    Buffer.byteLength(name) > MAX_NAME ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0')
  ) {
    throw new AgentError('invalid_params', `not a valid file name: ${JSON.stringify(name.slice(0, 64))}`);
  }
}

/** sattr3 that sets only the mode (and, for CREATE, the size 0 of a fresh file). */
export function sattr(w: XdrWriter, mode: number, size?: number): XdrWriter {
  w.bool(true).u32(mode);
  w.bool(false).bool(false); // uid, gid
  if (size === undefined) w.bool(false);
  else w.bool(true).u64(size);
  return w.u32(0).u32(0); // atime, mtime: don't change
}

/** Reads an nfsstat3; a non-zero status throws after the caller's failure body is skipped. */
export function status(r: XdrReader): number {
  return r.u32('nfsstat3');
}

export { XdrWriter };
