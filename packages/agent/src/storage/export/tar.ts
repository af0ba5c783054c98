/**
 * The small part of ustar (POSIX.1-1988) an OVA needs: regular-file members with short names.
 * Sizes of 8 GiB and more use the GNU base-256 size field, which GNU tar and libarchive read.
 * The reader is strict on purpose (it reads archives from other systems): only regular files,
 * verified header checksums, names checked by the caller, data inside the file.
 */

export const BLOCK = 512;

/** One member as found in an archive. */
export interface TarMember {
  name: string;
  size: number;
  /** Byte offset of the member's data in the archive. */
  offset: number;
}

export class TarError extends Error {}

function writeOctal(buf: Buffer, value: number, offset: number, length: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** A 512-byte ustar header for a regular file. */
export function tarHeader(name: string, size: number, mtimeSeconds: number): Buffer {
  if (Buffer.byteLength(name) > 100 || !/^[\x21-\x7e]+$/.test(name))
    throw new TarError(`member name "${name}" cannot be stored`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, 'ascii');
  writeOctal(h, 0o644, 100, 8);
  writeOctal(h, 0, 108, 8);
  writeOctal(h, 0, 116, 8);
  if (size < 8 ** 11) writeOctal(h, size, 124, 12);
  else {
    // GNU base-256: high bit of the first byte set, big-endian value in the rest.
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  writeOctal(h, Math.floor(mtimeSeconds), 136, 12);
  h.fill(0x20, 148, 156);
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Zero bytes that pad `size` to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0);
}

/** The archive's end: two zero blocks. */
export const TAR_END = Buffer.alloc(BLOCK * 2, 0);

function readOctal(h: Buffer, offset: number, length: number, what: string): number {
  const field = h.subarray(offset, offset + length);
  if ((field[0] ?? 0) & 0x80) {
    let v = 0n;
    for (let i = 1; i < length; i++) v = (v << 8n) | BigInt(field[i] ?? 0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarError(`${what} is too large`);
    return Number(v);
  }
  const text = field
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]{1,12}$/.test(text)) throw new TarError(`${what} is not an octal number`);
  return Number.parseInt(text, 8);
}

/**
 * Parses one header block. Returns undefined for an all-zero block (end of archive). Throws
 * TarError for a bad checksum, a member that is not a regular file (links, directories, devices,
 * pax or GNU long-name records) or a name with a ustar prefix.
 */
export function parseTarHeader(h: Buffer): { name: string; size: number } | undefined {
  if (h.length !== BLOCK) throw new TarError('truncated header');
  if (h.every((b) => b === 0)) return undefined;
  const stored = readOctal(h, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  if (sum !== stored) throw new TarError('header checksum mismatch');
  const type = String.fromCharCode(h[156] ?? 0);
  if (type !== '0' && type !== '\0') throw new TarError(`member type "${type}" is not a regular file`);
  const nameEnd = h.indexOf(0, 0);
  const name = h.subarray(0, nameEnd >= 0 && nameEnd < 100 ? nameEnd : 100).toString('latin1');
  const magic = h.subarray(257, 262).toString('ascii');
  if (magic === 'ustar' && h[345] !== 0) throw new TarError('member names with a prefix are not accepted');
  return { name, size: readOctal(h, 124, 12, 'size') };
}
