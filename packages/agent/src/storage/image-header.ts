import { open, stat } from 'node:fs/promises';

/**
 * Reads image headers with our own code, before any QEMU tool opens the file: QEMU's qcow2 driver
 * opens an external data file named in the header as soon as it opens the image, so the names of
 * backing and data files must be known (and refused) first.
 */

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const EXT_END = 0x00000000;
const EXT_DATA_FILE = 0x44415441; // "DATA": external data file name
const EXT_BACKING_FORMAT = 0xe2792aca; // the backing file's format name
/** Format names are short (`qcow2`, `raw`); anything longer is not one. */
const MAX_FORMAT_BYTES = 32;
/** Incompatible feature bit 2: the image's guest data lives in an external data file. */
const INCOMPAT_DATA_FILE = 1n << 2n;
/** QEMU refuses backing file names longer than this; so do we. */
const MAX_NAME_BYTES = 1023;
/** Header extensions must end within the first cluster; we read at most this much. */
const MAX_HEADER_READ = 2 * 1024 * 1024;

/** Magic numbers of image formats a file declared `raw` must not start with. */
const FORMAT_MAGICS: { format: string; magic: Buffer; offset: number }[] = [
  { format: 'qcow2', magic: Buffer.from([0x51, 0x46, 0x49, 0xfb]), offset: 0 },
  { format: 'qed', magic: Buffer.from('QED\0', 'latin1'), offset: 0 },
  { format: 'vmdk', magic: Buffer.from('KDMV', 'latin1'), offset: 0 },
  { format: 'vmdk', magic: Buffer.from('# Disk DescriptorFile', 'latin1'), offset: 0 },
  { format: 'vhdx', magic: Buffer.from('vhdxfile', 'latin1'), offset: 0 },
  { format: 'vpc', magic: Buffer.from('conectix', 'latin1'), offset: 0 },
  { format: 'luks', magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]), offset: 0 },
  { format: 'vdi', magic: Buffer.from([0x7f, 0x10, 0xda, 0xbe]), offset: 0x40 },
  { format: 'cloop', magic: Buffer.from('#!/bin/sh\n#V2.0 Format', 'latin1'), offset: 0 },
  { format: 'parallels', magic: Buffer.from('WithoutFreeSpace', 'latin1'), offset: 0 },
  { format: 'parallels', magic: Buffer.from('WithouFreSpacExt', 'latin1'), offset: 0 },
  { format: 'bochs', magic: Buffer.from('Bochs Virtual HD Image', 'latin1'), offset: 0 },
];

export interface Qcow2Header {
  version: number;
  virtualSize: bigint;
  clusterBits: number;
  /** 0 none, 1 legacy AES (insecure, deprecated), 2 LUKS. */
  cryptMethod: number;
  backingFile?: string;
  /** The backing file's format as the image names it (header extension); absent when not named. */
  backingFormat?: string;
  dataFile?: string;
  /** Incompatible feature bit 2 set, with or without a name extension. */
  hasExternalData: boolean;
  incompatibleFeatures: bigint;
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Thrown by the parser for a header that cannot be a valid qcow2 header. */
export class HeaderError extends Error {
  override readonly name = 'HeaderError';
}

/**
 * Parses a qcow2 header. Returns `undefined` when the file does not start with the qcow2 magic;
 * throws `HeaderError` when it does but the header is malformed.
 */
export async function readQcow2Header(path: string): Promise<Qcow2Header | undefined> {
  return parseQcow2Header((offset, length) => readAt(path, offset, length));
}

/**
 * `readQcow2Header` over any reader (`read(offset, length)` returns at most `length` bytes, fewer
 * at the end of the file): images on userspace-mode nfs domains are read over NFS (ADR 027).
 */
export async function parseQcow2Header(
  read: (offset: number, length: number) => Promise<Buffer>,
): Promise<Qcow2Header | undefined> {
  const head = await read(0, 4096);
  if (head.length < 4 || head.readUInt32BE(0) !== QCOW2_MAGIC) return undefined;
  if (head.length < 72) throw new HeaderError('truncated qcow2 header');
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new HeaderError(`unknown qcow2 version ${version}`);
  const backingOffset = head.readBigUInt64BE(8);
  const backingSize = head.readUInt32BE(16);
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) throw new HeaderError(`invalid cluster size 2^${clusterBits}`);
  const virtualSize = head.readBigUInt64BE(24);
  const cryptMethod = head.readUInt32BE(32);
  let incompatibleFeatures = 0n;
  let headerLength = 72;
  if (version === 3) {
    if (head.length < 104) throw new HeaderError('truncated qcow2 v3 header');
    incompatibleFeatures = head.readBigUInt64BE(72);
    headerLength = head.readUInt32BE(100);
    if (headerLength < 104 || headerLength > 4096)
      throw new HeaderError(`invalid header length ${headerLength}`);
  }

  const header: Qcow2Header = {
    version,
    virtualSize,
    clusterBits,
    cryptMethod,
    hasExternalData: (incompatibleFeatures & INCOMPAT_DATA_FILE) !== 0n,
    incompatibleFeatures,
  };

  if (backingOffset !== 0n) {
    if (backingSize === 0 || backingSize > MAX_NAME_BYTES)
      throw new HeaderError('invalid backing file name length');
    if (backingOffset > BigInt(Number.MAX_SAFE_INTEGER)) throw new HeaderError('invalid backing file offset');
    const name = await read(Number(backingOffset), backingSize);
    if (name.length !== backingSize) throw new HeaderError('backing file name past the end of the file');
    header.backingFile = name.toString('utf8');
  }

  // Header extensions follow the header, up to the end of the first cluster.
  const clusterSize = Math.min(2 ** clusterBits, MAX_HEADER_READ);
  const extensions = await read(0, clusterSize);
  let offset = headerLength;
  while (offset + 8 <= extensions.length) {
    const type = extensions.readUInt32BE(offset);
    const length = extensions.readUInt32BE(offset + 4);
    if (type === EXT_END) break;
    const dataStart = offset + 8;
    if (dataStart + length > extensions.length)
      throw new HeaderError('header extension past the first cluster');
    if (type === EXT_DATA_FILE) {
      if (length > MAX_NAME_BYTES) throw new HeaderError('invalid data file name length');
      header.dataFile = extensions.subarray(dataStart, dataStart + length).toString('utf8');
    } else if (type === EXT_BACKING_FORMAT) {
      if (length > MAX_FORMAT_BYTES) throw new HeaderError('invalid backing format name length');
      header.backingFormat = extensions.subarray(dataStart, dataStart + length).toString('utf8');
    }
    offset = dataStart + Math.ceil(length / 8) * 8;
  }
  return header;
}

/** Names the image format whose magic `path` starts with, if any (the file is then not plain raw). */
export async function detectFormatMagic(path: string): Promise<string | undefined> {
  const head = await readAt(path, 0, 512);
  for (const { format, magic, offset } of FORMAT_MAGICS) {
    if (head.length >= offset + magic.length && head.subarray(offset, offset + magic.length).equals(magic)) {
      return format;
    }
  }
  return undefined;
}

const VMDK4_MAGIC = 0x564d444b; // "KDMV" read little-endian
const VMDK3_MAGIC = 0x434f5744; // "COWD"
const VMDK_GD_AT_END = 0xffffffffffffffffn;
/** Embedded descriptors are a few hundred bytes; QEMU itself reads at most 1 MiB of one. */
const MAX_VMDK_DESCRIPTOR = 64 * 1024;

/** What our own parse of a hosted-sparse VMDK (one file: header, embedded descriptor, grains) found. */
export interface VmdkHeader {
  version: number;
  /** Guest-visible size in bytes (the header's capacity in 512-byte sectors). */
  virtualSize: bigint;
  createType: string;
  /** Extent lines of the embedded descriptor, e.g. `RW 32768 SPARSE "disk.vmdk"`. */
  extents: { access: string; sectors: bigint; type: string; file: string }[];
  /** The descriptor names a parent (a delta disk on top of another file). */
  hasParent: boolean;
}

/**
 * Parses a VMDK the way it must look to be safe: the sparse header of one file with its descriptor
 * embedded. Returns `undefined` when the file is not a VMDK4 sparse file at all (a text descriptor
 * file is recognised by `detectFormatMagic`). A capacity of 0 is refused: QEMU then treats the
 * embedded descriptor as a descriptor file and opens the extent files it names, which could be any
 * file on the host. Throws `HeaderError` for anything malformed.
 */
export async function readVmdkHeader(path: string): Promise<VmdkHeader | undefined> {
  const head = await readAt(path, 0, 512);
  if (head.length < 4) return undefined;
  const magic = head.readUInt32LE(0);
  if (magic === VMDK3_MAGIC) throw new HeaderError('VMDK3 (COWD) images are not accepted');
  if (magic !== VMDK4_MAGIC) return undefined;
  if (head.length < 80) throw new HeaderError('truncated VMDK header');
  let header = head;
  const gdOffset = head.readBigUInt64LE(56);
  if (gdOffset === VMDK_GD_AT_END) {
    // streamOptimized with the grain directory at the end: the header that counts is the footer,
    // the sector before the end-of-stream marker (QEMU reads it there, 1024 bytes before the end).
    const { size } = await stat(path);
    if (size < 1536 + 512) throw new HeaderError('streamOptimized VMDK without a footer');
    const footer = await readAt(path, size - 1024, 512);
    if (footer.length !== 512 || footer.readUInt32LE(0) !== VMDK4_MAGIC)
      throw new HeaderError('streamOptimized VMDK footer is missing');
    header = footer;
  }
  const version = header.readUInt32LE(4);
  if (version < 1 || version > 3) throw new HeaderError(`unknown VMDK version ${version}`);
  for (const h of header === head ? [head] : [head, header]) {
    if (h.readBigUInt64LE(12) === 0n)
      throw new HeaderError('VMDK capacity 0 (its descriptor would name the extent files)');
  }
  const capacity = header.readBigUInt64LE(12);
  if (capacity > BigInt(Number.MAX_SAFE_INTEGER) / 512n) throw new HeaderError('impossible VMDK capacity');
  const descOffset = head.readBigUInt64LE(28);
  const descSize = head.readBigUInt64LE(36);
  if (descOffset === 0n || descSize === 0n) throw new HeaderError('VMDK without an embedded descriptor');
  if (descSize * 512n > BigInt(MAX_VMDK_DESCRIPTOR) || descOffset > BigInt(Number.MAX_SAFE_INTEGER) / 512n)
    throw new HeaderError('invalid VMDK descriptor location');
  const raw = await readAt(path, Number(descOffset) * 512, Number(descSize) * 512);
  const end = raw.indexOf(0);
  const text = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
  let createType = '';
  let hasParent = false;
  const extents: VmdkHeader['extents'] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const kv = /^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?$/.exec(t);
    if (kv) {
      const key = (kv[1] as string).toLowerCase();
      if (key === 'createtype') createType = kv[2] as string;
      if (key === 'parentfilenamehint') hasParent = true;
      if (key === 'parentcid' && (kv[2] as string).toLowerCase() !== 'ffffffff') hasParent = true;
      continue;
    }
    const ext = /^(RW|RDONLY|NOACCESS)\s+(\d{1,20})\s+(\w+)(?:\s+"([^"]*)")?(?:\s+\d+)?$/.exec(t);
    if (ext) {
      extents.push({
        access: ext[1] as string,
        sectors: BigInt(ext[2] as string),
        type: ext[3] as string,
        file: ext[4] ?? '',
      });
      continue;
    }
    throw new HeaderError(`unreadable VMDK descriptor line ${JSON.stringify(t.slice(0, 80))}`);
  }
  return { version, virtualSize: capacity * 512n, createType, extents, hasParent };
}
