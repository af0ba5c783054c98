/**
 * Domain registration (issue 5 items 1 and 6): after a data domain moved to another engine, that
 * engine asks an agent what disks are on the domain. The agent reads every volume as hostile input
 * (its own header parser first, then qemu-img under limits, never following a backing name it has
 * not checked) and reports the chain it found per disk directory; the engine matches the result
 * with the disk metadata under `master/` before it creates any row.
 */
import { type Static, Type } from '@sinclair/typebox';
import { UuidString } from './vm-spec';

const strict = { additionalProperties: false } as const;

/** Most disk directories one scan reports (a domain with more is scanned by `disk_ids`). */
export const SCAN_MAX_DISKS = 4096;
/** Most volumes one disk directory may hold (a snapshot chain longer than this is refused). */
export const SCAN_MAX_VOLUMES = 128;

export const StorageScanDisksParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    /** Only these disk directories (default: every one under `images/`). */
    disk_ids: Type.Optional(Type.Array(UuidString, { maxItems: SCAN_MAX_DISKS })),
    /** Disks the engine knows already: not opened (a running VM may hold them). */
    exclude_disk_ids: Type.Optional(Type.Array(UuidString, { maxItems: 65536 })),
  },
  strict,
);
export type StorageScanDisksParams = Static<typeof StorageScanDisksParamsSchema>;

/** One volume file of a disk directory, as its own header and qemu-img describe it. */
export const ScannedVolumeSchema = Type.Object(
  {
    volume_id: UuidString,
    format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]),
    virtual_size: Type.Integer({ minimum: 0 }),
    actual_size: Type.Integer({ minimum: 0 }),
    /** LUKS inside qcow2: the key is in the old engine's database, not on storage. */
    encrypted: Type.Boolean(),
    /** The backing volume: in the same disk directory, or (a thin clone) another disk's of the domain. */
    parent: Type.Union([
      Type.Null(),
      Type.Object(
        {
          disk_id: UuidString,
          volume_id: UuidString,
          format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]),
        },
        strict,
      ),
    ]),
  },
  strict,
);
export type ScannedVolume = Static<typeof ScannedVolumeSchema>;

/** Why a disk directory cannot be registered (its files are left as they are). */
export const ScanProblemSchema = Type.Object(
  {
    /** `image_chain_invalid`, `image_json_filename`, `image_corrupt`, `merge_pending`, … */
    code: Type.String({ maxLength: 64 }),
    message: Type.String({ maxLength: 1024 }),
  },
  strict,
);
export type ScanProblem = Static<typeof ScanProblemSchema>;

export const ScannedDiskSchema = Type.Object(
  {
    disk_id: UuidString,
    /** Root first, the leaf (the volume QEMU writes to) last; empty with a problem. */
    volumes: Type.Array(ScannedVolumeSchema, { maxItems: SCAN_MAX_VOLUMES }),
    problem: Type.Optional(ScanProblemSchema),
  },
  strict,
);
export type ScannedDisk = Static<typeof ScannedDiskSchema>;

export const StorageScanDisksResultSchema = Type.Object(
  { disks: Type.Array(ScannedDiskSchema, { maxItems: SCAN_MAX_DISKS }) },
  strict,
);
export type StorageScanDisksResult = Static<typeof StorageScanDisksResultSchema>;
