/**
 * Storage-domain methods (ADR 017): the engine tells an agent which domains to make reachable;
 * the agent mounts (nfs), checks or creates the on-storage layout `<path>/<id>/{dom_md,images}`,
 * keeps its list of active domains across restarts and allows VM specs to reference files inside
 * them. Volumes inside a domain are volume.ts's.
 */
import { type Static, Type } from '@sinclair/typebox';
import { UuidString } from './vm-spec';

const strict = { additionalProperties: false } as const;

export const StorageDomainKindSchema = Type.Union([
  Type.Literal('data'),
  Type.Literal('iso'),
  Type.Literal('export'),
]);
export type StorageDomainKind = Static<typeof StorageDomainKindSchema>;

export const StorageBackendSchema = Type.Union([
  Type.Literal('local'),
  Type.Literal('posix'),
  Type.Literal('nfs'),
]);
export type StorageBackend = Static<typeof StorageBackendSchema>;

/** Absolute, normalised-looking path without `..` segments or control characters. */
export const StoragePathSchema = Type.String({
  pattern: '^/(?!.*(^|/)\\.\\.(/|$))[^\\x00-\\x1f\\x7f]{0,1023}$',
  maxLength: 1024,
});
/** Host name, IPv4 or bracketed IPv6 of an NFS server. */
export const NfsServerSchema = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9.:\\[\\]-]{0,252}$' });
/** Comma-separated `key` or `key=value` options; no spaces, no shell or mount-syntax surprises. */
export const MountOptionsSchema = Type.String({ pattern: '^[A-Za-z0-9_=.,-]{1,512}$' });
export const StorageDomainNameSchema = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

/** Where a domain is and what it is: everything an agent needs to reach it. */
export const StorageDomainRefSchema = Type.Object(
  {
    id: UuidString,
    name: StorageDomainNameSchema,
    kind: StorageDomainKindSchema,
    backend: StorageBackendSchema,
    /** local/posix: the parent directory of `<id>/`; nfs: the mount point (created if missing). */
    path: StoragePathSchema,
    nfs_server: Type.Optional(NfsServerSchema),
    nfs_export: Type.Optional(StoragePathSchema),
    mount_options: Type.Optional(MountOptionsSchema),
  },
  strict,
);
export type StorageDomainRef = Static<typeof StorageDomainRefSchema>;

/** `<root>/dom_md/metadata.json`: what a domain says about itself on storage. */
export const StorageDomainMetadataSchema = Type.Object(
  {
    id: UuidString,
    name: StorageDomainNameSchema,
    kind: StorageDomainKindSchema,
    format_version: Type.Integer({ minimum: 1 }),
    /** The engine that uses the domain; null once detached (any engine may import it). */
    owner_engine_id: Type.Union([UuidString, Type.Null()]),
    created_at: Type.String({ maxLength: 64 }),
    updated_at: Type.String({ maxLength: 64 }),
  },
  // Newer engines may add fields; an older agent keeps them when it rewrites the file.
  { additionalProperties: true },
);
export type StorageDomainMetadata = Static<typeof StorageDomainMetadataSchema>;

export const StorageActivateParamsSchema = Type.Object(
  {
    domain: StorageDomainRefSchema,
    /** The calling engine's id: the metadata must name it (or nobody, when `create_metadata`). */
    engine_id: UuidString,
    /**
     * true: create the layout and metadata when missing, and claim an unowned domain for
     * `engine_id`. false: the metadata must exist and be this engine's.
     */
    create_metadata: Type.Boolean(),
  },
  strict,
);
export type StorageActivateParams = Static<typeof StorageActivateParamsSchema>;

export const StorageCapacitySchema = Type.Object(
  { total_bytes: Type.Integer({ minimum: 0 }), free_bytes: Type.Integer({ minimum: 0 }) },
  strict,
);
export type StorageCapacity = Static<typeof StorageCapacitySchema>;

export const StorageActivateResultSchema = Type.Object(
  {
    total_bytes: Type.Integer({ minimum: 0 }),
    free_bytes: Type.Integer({ minimum: 0 }),
    metadata: StorageDomainMetadataSchema,
    /** The domain's directory on this host (`<path>/<id>`). */
    root: Type.String(),
  },
  strict,
);
export type StorageActivateResult = Static<typeof StorageActivateResultSchema>;

export const StorageDomainIdParamsSchema = Type.Object({ id: UuidString }, strict);
export type StorageDomainIdParams = Static<typeof StorageDomainIdParamsSchema>;

export const StorageDeactivateParamsSchema = Type.Object(
  {
    id: UuidString,
    /** Write `owner_engine_id: null` first (detach), so another engine may import the domain. */
    release: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type StorageDeactivateParams = Static<typeof StorageDeactivateParamsSchema>;

export const StorageDeactivateResultSchema = Type.Object(
  { id: UuidString, was_active: Type.Boolean() },
  strict,
);

export const IsoFileSchema = Type.Object(
  { name: Type.String(), size_bytes: Type.Integer({ minimum: 0 }), modified_at: Type.String() },
  strict,
);
export type IsoFile = Static<typeof IsoFileSchema>;
export const StorageListIsosResultSchema = Type.Object({ files: Type.Array(IsoFileSchema) }, strict);

/** Looks for domains under a location without activating anything (import). */
export const StorageProbeParamsSchema = Type.Object(
  {
    backend: StorageBackendSchema,
    path: StoragePathSchema,
    nfs_server: Type.Optional(NfsServerSchema),
    nfs_export: Type.Optional(StoragePathSchema),
    mount_options: Type.Optional(MountOptionsSchema),
  },
  strict,
);
export type StorageProbeParams = Static<typeof StorageProbeParamsSchema>;
export const StorageProbeResultSchema = Type.Object(
  { domains: Type.Array(StorageDomainMetadataSchema) },
  strict,
);
