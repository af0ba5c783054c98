/**
 * Domain files and OVA archives (export/import of VMs and templates, issue 5 item 6).
 *
 * `storage.file_*` are small generic file methods limited to the `master/` subtree of an active
 * domain (`<domain path>/<domain id>/master/`): OVF files of exports and the VM configurations a
 * data domain keeps. Paths are relative, `/`-separated, at most 8 segments of safe names; the agent
 * refuses `.`/`..`, symlinks anywhere on the way and files over {@link DOMAIN_FILE_MAX_BYTES}.
 *
 * `export.ova_*` pack and unpack one tar (`<domain root>/ova/<name>.ova`: the OVF first, then one
 * qcow2 per disk named by the OVF's `href`) on an export domain. Everything read from an OVA is
 * hostile: member names and sizes are checked, and every image passes the hostile-image gate.
 */
import { type Static, Type } from '@sinclair/typebox';
import { DiskFormatSchema, UuidString } from './vm-spec';
import { VolumeEndpointSchema, VolumeInfoSchema, VolumeSourceEncryptionSchema } from './volume';

const strict = { additionalProperties: false } as const;

/** Largest file `storage.file_*` reads or writes (an OVF or a VM configuration). */
export const DOMAIN_FILE_MAX_BYTES = 1024 * 1024;

/** A path below `master/`: 1–8 segments of `[A-Za-z0-9._-]`, no `.` or `..` segment. */
export const DomainFilePath = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+){0,7}$',
});

export const StorageFileWriteParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    path: DomainFilePath,
    /** UTF-8 text; replaced atomically (temporary file, fsync, rename, fsync of the directory). */
    content: Type.String({ maxLength: DOMAIN_FILE_MAX_BYTES }),
  },
  strict,
);
export type StorageFileWriteParams = Static<typeof StorageFileWriteParamsSchema>;

export const StorageFileWriteResultSchema = Type.Object(
  { path: Type.String(), size_bytes: Type.Integer({ minimum: 0 }) },
  strict,
);

export const StorageFileReadParamsSchema = Type.Object(
  { domain_id: UuidString, path: DomainFilePath },
  strict,
);
export type StorageFileReadParams = Static<typeof StorageFileReadParamsSchema>;

export const StorageFileReadResultSchema = Type.Object(
  { path: Type.String(), content: Type.String(), size_bytes: Type.Integer({ minimum: 0 }) },
  strict,
);
export type StorageFileReadResult = Static<typeof StorageFileReadResultSchema>;

export const StorageFileListParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    /** Omitted: `master/` itself. A missing directory lists as empty. */
    dir: Type.Optional(DomainFilePath),
    /** Walk sub-directories too (depth ≤ 8, at most 10 000 entries). */
    recursive: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type StorageFileListParams = Static<typeof StorageFileListParamsSchema>;

export const DomainFileEntrySchema = Type.Object(
  {
    /** Relative to `master/`. */
    path: Type.String(),
    kind: Type.Union([Type.Literal('file'), Type.Literal('dir')]),
    size_bytes: Type.Integer({ minimum: 0 }),
    modified_at: Type.String(),
  },
  strict,
);
export type DomainFileEntry = Static<typeof DomainFileEntrySchema>;

export const StorageFileListResultSchema = Type.Object(
  { entries: Type.Array(DomainFileEntrySchema) },
  strict,
);
export type StorageFileListResult = Static<typeof StorageFileListResultSchema>;

export const StorageFileDeleteParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    path: DomainFilePath,
    /** Needed to delete a directory (and everything in it; symlinks inside are removed, not followed). */
    recursive: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type StorageFileDeleteParams = Static<typeof StorageFileDeleteParamsSchema>;

export const StorageFileDeleteResultSchema = Type.Object({ deleted: Type.Boolean() }, strict);

/** An OVA's file name on the export domain, without `.ova`. */
export const OvaName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

export const OvaPackParamsSchema = Type.Object(
  {
    /** Names the `job.progress` events (kind `export.ova_pack`). */
    job_id: UuidString,
    /** The export domain. */
    domain_id: UuidString,
    name: OvaName,
    /** The OVF text, the first member (`<name>.ovf`). */
    ovf: Type.String({ maxLength: DOMAIN_FILE_MAX_BYTES }),
    /** Each volume is flattened to qcow2 and stored as member `<disk_id>/<volume_id>` of `member`. */
    disks: Type.Array(
      Type.Object(
        {
          from: VolumeEndpointSchema,
          member: Type.Object({ disk_id: UuidString, volume_id: UuidString }, strict),
          /** An encrypted source chain's keys: the member is written decrypted (an OVA travels). */
          source_encryption: Type.Optional(VolumeSourceEncryptionSchema),
        },
        strict,
      ),
      { maxItems: 16 },
    ),
    /** Replace an existing OVA of that name (default: `image_exists`). */
    overwrite: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type OvaPackParams = Static<typeof OvaPackParamsSchema>;

export const OvaMemberSchema = Type.Object(
  { name: Type.String(), size_bytes: Type.Integer({ minimum: 0 }) },
  strict,
);

export const OvaPackResultSchema = Type.Object(
  { name: Type.String(), size_bytes: Type.Integer({ minimum: 0 }), members: Type.Array(OvaMemberSchema) },
  strict,
);
export type OvaPackResult = Static<typeof OvaPackResultSchema>;

export const OvaReadParamsSchema = Type.Object({ domain_id: UuidString, name: OvaName }, strict);
export type OvaReadParams = Static<typeof OvaReadParamsSchema>;

export const OvaReadResultSchema = Type.Object(
  {
    name: Type.String(),
    /** The first member's text (not parsed by the agent: the engine's OVF parser checks it). */
    ovf: Type.String(),
    members: Type.Array(OvaMemberSchema),
    size_bytes: Type.Integer({ minimum: 0 }),
    modified_at: Type.String(),
  },
  strict,
);
export type OvaReadResult = Static<typeof OvaReadResultSchema>;

export const OvaListParamsSchema = Type.Object({ domain_id: UuidString }, strict);
export const OvaListResultSchema = Type.Object(
  {
    names: Type.Array(Type.String()),
    /**
     * `.ova` files whose names are not accepted (e.g. with spaces, as other tools name them): never
     * opened, reported so the administrator can rename them. At most 100, each ≤ 255 characters.
     */
    refused: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 100 })),
  },
  strict,
);

/** A member of an OVA another tool wrote: one plain file name (never a path). */
export const OvaForeignMember = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$' });
/** Image formats accepted inside a foreign OVA (a VMDK only as one single-file sparse image). */
export const ForeignImageFormat = Type.Union([
  Type.Literal('vmdk'),
  Type.Literal('qcow2'),
  Type.Literal('raw'),
]);

export const OvaExtractParamsSchema = Type.Object(
  {
    job_id: UuidString,
    domain_id: UuidString,
    name: OvaName,
    /**
     * Members `<disk_id>/<volume_id>` (qcow2 inside, a Vireo OVA), or members of an OVA another
     * tool wrote, named by file and format (converted to qcow2); each to a new volume (which must
     * not exist).
     */
    disks: Type.Array(
      Type.Object(
        {
          member: Type.Union([
            Type.Object({ disk_id: UuidString, volume_id: UuidString }, strict),
            Type.Object({ file: OvaForeignMember, format: ForeignImageFormat }, strict),
          ]),
          to: VolumeEndpointSchema,
          /** Refuse images whose virtual size exceeds this (what the OVF declared). */
          max_virtual_size: Type.Integer({ minimum: 1 }),
        },
        strict,
      ),
      { maxItems: 16 },
    ),
  },
  strict,
);
export type OvaExtractParams = Static<typeof OvaExtractParamsSchema>;

export const OvaExtractResultSchema = Type.Object({ volumes: Type.Array(VolumeInfoSchema) }, strict);
export type OvaExtractResult = Static<typeof OvaExtractResultSchema>;

/** The hostile-image gate on a volume of an export domain, before the engine copies it anywhere. */
export const ExportCheckVolumeParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    disk_id: UuidString,
    volume_id: UuidString,
    format: DiskFormatSchema,
    max_virtual_size: Type.Integer({ minimum: 1 }),
  },
  strict,
);
export type ExportCheckVolumeParams = Static<typeof ExportCheckVolumeParamsSchema>;

export const ExportCheckVolumeResultSchema = Type.Object(
  { virtual_size: Type.Integer({ minimum: 0 }), actual_size: Type.Integer({ minimum: 0 }) },
  strict,
);
