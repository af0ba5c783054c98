import { type Static, Type } from '@sinclair/typebox';
import { Description, ListQuery, Name, Page, Timestamp, Uuid } from './common';
import { Operation } from './operations';
import { VM_DISK_INTERFACES } from './vms';

const lit = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  );

export const DISK_FORMATS = ['qcow2', 'raw'] as const;
export const DISK_PREALLOCATIONS = ['off', 'metadata', 'falloc', 'full'] as const;
export const DISK_STATES = ['ok', 'locked', 'illegal'] as const;
export const DISK_MIN_BYTES = 1024 ** 2;
export const DISK_MAX_BYTES = 64 * 1024 ** 4;
export const DISK_MAX_GIB = 65536;

const SizeBytes = Type.Integer({
  minimum: DISK_MIN_BYTES,
  maximum: DISK_MAX_BYTES,
  description: 'Virtual size in bytes (a multiple of 512).',
  multipleOf: 512,
});
const SizeGib = Type.Integer({ minimum: 1, maximum: DISK_MAX_GIB, description: 'Virtual size in GiB.' });

export const Disk = Type.Object(
  {
    id: Uuid,
    name: Name,
    description: Type.String(),
    storage_domain_id: Uuid,
    size_bytes: Type.Integer(),
    /** Rounded up, for people. */
    size_gib: Type.Integer(),
    format: lit(DISK_FORMATS, 'Image format.'),
    preallocation: lit(DISK_PREALLOCATIONS, 'How the image reserves space.'),
    shareable: Type.Boolean(),
    /** LUKS-encrypted with a key the engine keeps (docs/disks.md "Encryption"). */
    encrypted: Type.Boolean(),
    state: lit(DISK_STATES, 'ok; locked while an operation works on it; illegal when unusable.'),
    /** Number of volumes in its chain (1 without snapshots). */
    volumes: Type.Integer(),
    /** Virtual machines it is attached to. */
    vm_ids: Type.Array(Uuid),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: 'A disk: an image (chain of volumes) in a storage domain' },
);
export type Disk = Static<typeof Disk>;

export const DiskCreate = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    storage_domain_id: Uuid,
    size_gib: Type.Optional(SizeGib),
    size_bytes: Type.Optional(SizeBytes),
    format: Type.Optional(lit(DISK_FORMATS, 'Image format (default qcow2: thin).')),
    preallocation: Type.Optional(
      lit(DISK_PREALLOCATIONS, 'off (thin, default), metadata (qcow2), falloc or full (preallocated).'),
    ),
    shareable: Type.Optional(Type.Boolean({ description: 'May be attached to several VMs (raw only).' })),
    encrypted: Type.Optional(
      Type.Boolean({ description: 'LUKS inside qcow2 with a per-disk key the engine keeps (qcow2 only).' }),
    ),
  },
  { additionalProperties: false },
);
export type DiskCreate = Static<typeof DiskCreate>;

/** PATCH body (If-Match). A larger size extends the disk (an operation; online when its VM runs). */
export const DiskUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    size_gib: Type.Optional(SizeGib),
    size_bytes: Type.Optional(SizeBytes),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type DiskUpdate = Static<typeof DiskUpdate>;

/** `POST /disks/{id}/move` and `/copy`. */
export const DiskTransferRequest = Type.Object(
  {
    storage_domain_id: Uuid,
    /** copy only: the new disk's name (default `<name>-copy`). */
    name: Type.Optional(Name),
    /**
     * copy only: encrypt the copy (qcow2 only) under a key of its own; default: as the source. A
     * copy of an encrypted disk cannot be plain (export decrypts, ADR 029).
     */
    encrypted: Type.Optional(
      Type.Boolean({
        description:
          'copy only: LUKS-encrypt the copy under a new key (qcow2; default: encrypted when the source is)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type DiskTransferRequest = Static<typeof DiskTransferRequest>;

/** `GET /disks/defaults`: what a new disk gets when the request leaves a choice out. */
export const DiskDefaults = Type.Object(
  {
    encrypted: Type.Boolean({
      description:
        'A new qcow2 disk without `encrypted` is encrypted (setting disks.encrypt_by_default; raw disks stay plain).',
    }),
  },
  { additionalProperties: false },
);
export type DiskDefaults = Static<typeof DiskDefaults>;

export const DISK_SORT_FIELDS = ['name', 'created_at', 'updated_at'] as const;
export const DiskListQuery = ListQuery(DISK_SORT_FIELDS, {
  storage_domain_id: Type.Optional(Uuid),
  vm_id: Type.Optional(Uuid),
});
export type DiskListQuery = Static<typeof DiskListQuery>;
export const DiskPage = Page(Disk);

export const DiskAttachment = Type.Object(
  {
    vm_id: Uuid,
    disk_id: Uuid,
    position: Type.Integer(),
    interface: lit(VM_DISK_INTERFACES, 'Bus the guest sees.'),
    bootable: Type.Boolean(),
    active: Type.Boolean({ description: 'Given to the VM when it runs.' }),
    disk: Disk,
  },
  { description: 'A disk attached to a VM' },
);
export type DiskAttachment = Static<typeof DiskAttachment>;

export const DiskAttachmentCreate = Type.Object(
  {
    disk_id: Uuid,
    interface: Type.Optional(lit(VM_DISK_INTERFACES, 'Bus the guest sees (default virtio).')),
    bootable: Type.Optional(Type.Boolean()),
    active: Type.Optional(Type.Boolean({ description: 'Default true.' })),
  },
  { additionalProperties: false },
);
export type DiskAttachmentCreate = Static<typeof DiskAttachmentCreate>;

export const DiskAttachmentList = Type.Object({ items: Type.Array(DiskAttachment) });

export const VmDiskParams = Type.Object({ id: Uuid, disk_id: Uuid }, { additionalProperties: false });
export type VmDiskParams = Static<typeof VmDiskParams>;

/** 202 answer of disk work: the operation doing it and the disk as it is now (usually `locked`). */
export const DiskAccepted = Type.Object(
  { operation: Type.Ref(Operation), disk: Disk },
  { description: 'Accepted: the disk work goes on as this operation' },
);
export type DiskAccepted = Static<typeof DiskAccepted>;

/** 202 answer of a hot-plug or unplug. */
export const DiskAttachmentAccepted = Type.Object(
  { operation: Type.Ref(Operation), attachment: DiskAttachment },
  { description: 'Accepted: the VM gets (or loses) the disk as this operation runs' },
);
