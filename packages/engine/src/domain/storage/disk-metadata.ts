import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * A disk's description kept on its data domain (`master/disks/<disk_id>.json`), so another engine
 * that imports the domain can register the disk with its name and snapshot chain (ADR 025). Written
 * by the OVF-store controller from the database; read back as hostile input (the domain may have
 * been anywhere since).
 */

export const DISK_METADATA_FORMAT_VERSION = 1;
/** Largest metadata file accepted (a 128-volume chain is ~20 KiB). */
export const DISK_METADATA_MAX_BYTES = 64 * 1024;

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
const Format = Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]);

const VolumeMetadataSchema = Type.Object(
  {
    id: Uuid,
    /** The backing volume: the previous layer, or a template base volume of another disk. */
    parent_id: Type.Union([Uuid, Type.Null()]),
    format: Format,
    size_bytes: Type.Integer({ minimum: 0, maximum: 70368744177664 }),
    active: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const DiskMetadataSchema = Type.Object(
  {
    format_version: Type.Literal(DISK_METADATA_FORMAT_VERSION),
    id: Uuid,
    storage_domain_id: Uuid,
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    description: Type.String({ maxLength: 4096 }),
    format: Format,
    size_bytes: Type.Integer({ minimum: 1048576, maximum: 70368744177664 }),
    preallocation: Type.Union([
      Type.Literal('off'),
      Type.Literal('metadata'),
      Type.Literal('falloc'),
      Type.Literal('full'),
    ]),
    shareable: Type.Boolean(),
    /** Only the flag: the key stays wrapped in the engine's database, never on storage. */
    encrypted: Type.Boolean(),
    /** Root first, the active leaf last. */
    volumes: Type.Array(VolumeMetadataSchema, { minItems: 1, maxItems: 128 }),
  },
  { additionalProperties: false },
);
export type DiskMetadata = Static<typeof DiskMetadataSchema>;
export type VolumeMetadata = DiskMetadata['volumes'][number];

/** Why a metadata file was refused. */
export class DiskMetadataError extends Error {
  override readonly name = 'DiskMetadataError';
}

/** The rows a metadata file is made of (the database's view of one disk). */
export interface DiskMetadataSource {
  disk: {
    id: string;
    storage_domain_id: string;
    name: string;
    description: string;
    format: 'qcow2' | 'raw';
    size_bytes: number;
    preallocation: DiskMetadata['preallocation'];
    shareable: boolean;
    encrypted: boolean;
  };
  volumes: {
    id: string;
    parent_id: string | null;
    format: 'qcow2' | 'raw';
    size_bytes: number;
    active: boolean;
  }[];
}

/**
 * The metadata of one disk, volumes ordered root first (following parent links from the one volume
 * whose parent is not a volume of this disk). Timestamps are left out on purpose: the file's digest
 * changes only when something an importer needs changes.
 */
export function diskMetadataOf(src: DiskMetadataSource): DiskMetadata {
  const d = src.disk;
  return {
    format_version: DISK_METADATA_FORMAT_VERSION,
    id: d.id,
    storage_domain_id: d.storage_domain_id,
    name: d.name,
    description: d.description,
    format: d.format,
    size_bytes: d.size_bytes,
    preallocation: d.preallocation,
    shareable: d.shareable,
    encrypted: d.encrypted,
    volumes: orderVolumes(src.volumes).map((v) => ({
      id: v.id,
      parent_id: v.parent_id,
      format: v.format,
      size_bytes: v.size_bytes,
      active: v.active,
    })),
  };
}

/** Root first; throws when the rows are not one chain (the caller skips such a disk). */
export function orderVolumes<T extends { id: string; parent_id: string | null }>(volumes: T[]): T[] {
  const ids = new Set(volumes.map((v) => v.id));
  const roots = volumes.filter((v) => v.parent_id === null || !ids.has(v.parent_id));
  if (roots.length !== 1) throw new DiskMetadataError(`expected one root volume, found ${roots.length}`);
  const byParent = new Map<string, T>();
  for (const v of volumes) {
    if (v.parent_id === null || !ids.has(v.parent_id)) continue;
    if (byParent.has(v.parent_id)) throw new DiskMetadataError(`volume ${v.parent_id} backs two volumes`);
    byParent.set(v.parent_id, v);
  }
  const out: T[] = [];
  for (let cur: T | undefined = roots[0]; cur && out.length <= volumes.length; cur = byParent.get(cur.id)) {
    out.push(cur);
  }
  if (out.length !== volumes.length) throw new DiskMetadataError('the volumes are not one chain');
  return out;
}

/** Stable text (fixed key order from {@link diskMetadataOf}) and its sha256, for change detection. */
export function diskMetadataText(m: DiskMetadata): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Reads a metadata file as hostile: size cap, JSON, exact shape (no extra keys), then the rules the
 * schema cannot say: the file names the disk it is stored for, one chain root first with parents
 * inside the list (except the root's, a template base), the active volume is the leaf, a shareable
 * disk is raw, an encrypted one qcow2.
 */
export function parseDiskMetadata(text: string, expectedDiskId?: string): DiskMetadata {
  if (Buffer.byteLength(text, 'utf8') > DISK_METADATA_MAX_BYTES)
    throw new DiskMetadataError(`larger than ${DISK_METADATA_MAX_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DiskMetadataError('not JSON');
  }
  if (!Value.Check(DiskMetadataSchema, value)) {
    const first = Value.Errors(DiskMetadataSchema, value).First();
    throw new DiskMetadataError(`wrong shape at ${first?.path || '/'}: ${first?.message ?? 'invalid'}`);
  }
  const m = value as DiskMetadata;
  if (expectedDiskId !== undefined && m.id !== expectedDiskId.toLowerCase())
    throw new DiskMetadataError(`describes disk ${m.id}, not ${expectedDiskId}`);
  if (m.shareable && m.format !== 'raw') throw new DiskMetadataError('a shareable disk must be raw');
  if (m.encrypted && m.format !== 'qcow2') throw new DiskMetadataError('an encrypted disk must be qcow2');
  const seen = new Set<string>();
  m.volumes.forEach((v, i) => {
    if (seen.has(v.id)) throw new DiskMetadataError(`volume ${v.id} is listed twice`);
    if (i > 0 && v.parent_id !== m.volumes[i - 1]?.id)
      throw new DiskMetadataError(`volume ${v.id} is not backed by the volume before it`);
    seen.add(v.id);
  });
  if (m.volumes.some((v, i) => v.active !== (i === m.volumes.length - 1)))
    throw new DiskMetadataError('only the last volume (the leaf) may be active');
  const root = m.volumes[0] as VolumeMetadata;
  if (root.parent_id !== null && seen.has(root.parent_id))
    throw new DiskMetadataError('the root volume is backed by a volume of its own chain');
  return m;
}
