/**
 * Volume methods: the images of disks inside active storage domains. Every volume is addressed by
 * ids only (`domain_id`, `disk_id`, `volume_id`); the agent maps them to
 * `<domain path>/<domain id>/images/<disk id>/<volume id>` itself, so the engine never sends a path
 * the agent would have to trust.
 */
import { type Static, Type } from '@sinclair/typebox';
import { DiskFormatSchema, EncryptionSecretString, UuidString } from './vm-spec';

const strict = { additionalProperties: false } as const;

/** The largest virtual size a volume may have (64 TiB, qcow2's practical limit with 64 KiB clusters). */
export const VOLUME_MAX_BYTES = 64 * 1024 ** 4;

export const VolumePreallocationSchema = Type.Union([
  Type.Literal('off'),
  Type.Literal('metadata'),
  Type.Literal('falloc'),
  Type.Literal('full'),
]);
export type VolumePreallocation = Static<typeof VolumePreallocationSchema>;

/** One volume of one disk in one domain. */
export const VolumeRefSchema = Type.Object(
  { domain_id: UuidString, disk_id: UuidString, volume_id: UuidString },
  strict,
);
export type VolumeRef = Static<typeof VolumeRefSchema>;

/** The key a volume is (to be) encrypted with (LUKS in qcow2), base64. */
export const VolumeEncryptionSchema = Type.Object({ secret: EncryptionSecretString }, strict);
export type VolumeEncryption = Static<typeof VolumeEncryptionSchema>;

/**
 * Keys to open an encrypted source chain: `secret` for every volume in the source disk's own
 * directory, `base_secret` for volumes of another disk below them (a thin clone's template base).
 */
export const VolumeSourceEncryptionSchema = Type.Object(
  { secret: EncryptionSecretString, base_secret: Type.Optional(EncryptionSecretString) },
  strict,
);
export type VolumeSourceEncryption = Static<typeof VolumeSourceEncryptionSchema>;

const SizeBytes = Type.Integer({ minimum: 512, maximum: VOLUME_MAX_BYTES });

export const VolumeCreateParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    disk_id: UuidString,
    volume_id: UuidString,
    format: DiskFormatSchema,
    /** Virtual size; may be omitted for an overlay (it inherits its backing volume's size). */
    size_bytes: Type.Optional(SizeBytes),
    /** qcow2: `off`/`metadata`/`falloc`/`full`; raw: `off` (sparse), `falloc` or `full`. */
    preallocation: Type.Optional(VolumePreallocationSchema),
    /**
     * A qcow2 overlay on another volume of the same domain: a snapshot layer (same disk) or a
     * template's base (another disk). Recorded relative, so the domain can be mounted elsewhere.
     */
    backing: Type.Optional(
      Type.Object({ disk_id: UuidString, volume_id: UuidString, format: DiskFormatSchema }, strict),
    ),
    /**
     * LUKS inside qcow2: the disk's key (base64). The agent never logs it or puts it on argv. With
     * `backing`, the overlay is encrypted with this key; the backing keeps its own (it is not opened).
     */
    encryption: Type.Optional(VolumeEncryptionSchema),
  },
  strict,
);
export type VolumeCreateParams = Static<typeof VolumeCreateParamsSchema>;

export const VolumeDeleteParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    disk_id: UuidString,
    /** Omitted: the whole disk directory (every volume of the disk). */
    volume_id: Type.Optional(UuidString),
  },
  strict,
);
export type VolumeDeleteParams = Static<typeof VolumeDeleteParamsSchema>;

export const VolumeDeleteResultSchema = Type.Object(
  {
    /** False when there was nothing to delete (a retry after a lost reply). */
    deleted: Type.Boolean(),
  },
  strict,
);
export type VolumeDeleteResult = Static<typeof VolumeDeleteResultSchema>;

export const VolumeInfoParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    disk_id: UuidString,
    volume_id: UuidString,
    /** The format the engine recorded; nothing is probed. */
    format: DiskFormatSchema,
  },
  strict,
);
export type VolumeInfoParams = Static<typeof VolumeInfoParamsSchema>;

export const VolumeInfoSchema = Type.Object(
  {
    domain_id: UuidString,
    disk_id: UuidString,
    volume_id: UuidString,
    /** Absolute path on this host (what a VM spec names). */
    path: Type.String(),
    format: DiskFormatSchema,
    virtual_size: Type.Integer({ minimum: 0 }),
    actual_size: Type.Integer({ minimum: 0 }),
    /** The backing volume of an overlay, as recorded in the image. */
    backing: Type.Union([Type.String(), Type.Null()]),
  },
  strict,
);
export type VolumeInfo = Static<typeof VolumeInfoSchema>;

export const VolumeResizeParamsSchema = Type.Object(
  {
    domain_id: UuidString,
    disk_id: UuidString,
    volume_id: UuidString,
    format: DiskFormatSchema,
    /** New virtual size; volumes only grow (shrinking loses data). */
    size_bytes: SizeBytes,
    /** An encrypted volume's key: qemu-img opens its LUKS header to grow it. */
    encryption: Type.Optional(VolumeEncryptionSchema),
  },
  strict,
);
export type VolumeResizeParams = Static<typeof VolumeResizeParamsSchema>;

export const VolumeEndpointSchema = Type.Object(
  { domain_id: UuidString, disk_id: UuidString, volume_id: UuidString, format: DiskFormatSchema },
  strict,
);
export type VolumeEndpoint = Static<typeof VolumeEndpointSchema>;

export const VolumeCopyParamsSchema = Type.Object(
  {
    /** Names the `job.progress` events of this copy and lets `volume.cancel` stop it. */
    job_id: UuidString,
    /** Copied with its whole backing chain collapsed into one image. */
    from: VolumeEndpointSchema,
    /** Must not exist; its format is `to.format`. Removed again when the copy fails. */
    to: VolumeEndpointSchema,
    preallocation: Type.Optional(VolumePreallocationSchema),
    /** Keys to read an encrypted source chain; without them the source must be plain. */
    source_encryption: Type.Optional(VolumeSourceEncryptionSchema),
    /** Writes the target LUKS-encrypted (qcow2 only) with this key; without it the target is plain. */
    target_encryption: Type.Optional(VolumeEncryptionSchema),
  },
  strict,
);
export type VolumeCopyParams = Static<typeof VolumeCopyParamsSchema>;

export const VolumeCancelParamsSchema = Type.Object({ job_id: UuidString }, strict);
export const VolumeCancelResultSchema = Type.Object(
  {
    /** False when no such job runs (finished already, or never started). */
    cancelled: Type.Boolean(),
  },
  strict,
);

/** Online extension of a running VM's disk (QMP `block_resize` on its format node). */
export const VmResizeDiskParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    disk_id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' }),
    size_bytes: SizeBytes,
  },
  strict,
);
export type VmResizeDiskParams = Static<typeof VmResizeDiskParamsSchema>;

export const VmResizeDiskResultSchema = Type.Object(
  { vm_id: UuidString, disk_id: Type.String(), size_bytes: Type.Integer({ minimum: 0 }) },
  strict,
);
export type VmResizeDiskResult = Static<typeof VmResizeDiskResultSchema>;
