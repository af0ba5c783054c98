import { type Static, Type } from '@sinclair/typebox';
import { Description, ListQuery, Name, Page, Timestamp, Uuid } from './common';

/** What a storage domain holds. */
export const STORAGE_DOMAIN_KINDS = ['data', 'iso', 'export'] as const;
/** Where it lives: a host's directory, an administrator-mounted file system, or an NFS export. */
export const STORAGE_BACKENDS = ['local', 'posix', 'nfs'] as const;
export const STORAGE_DOMAIN_STATES = ['unattached', 'active', 'maintenance', 'inactive', 'locked'] as const;

const Kind = Type.Union(
  STORAGE_DOMAIN_KINDS.map((k) => Type.Literal(k)),
  { description: 'data: disks; iso: CD-ROM images; export: moving VMs between data centers.' },
);
const Backend = Type.Union(
  STORAGE_BACKENDS.map((b) => Type.Literal(b)),
  {
    description:
      'local: a directory on one host; posix: mounted by the administrator on every host; nfs: mounted by the agents.',
  },
);
const State = Type.Union(STORAGE_DOMAIN_STATES.map((s) => Type.Literal(s)));

/** An absolute path without `..` segments or control characters. */
const StoragePath = Type.String({
  pattern: '^/(?!.*(^|/)\\.\\.(/|$))[^\\x00-\\x1f\\x7f]{0,1023}$',
  maxLength: 1024,
  description: 'Absolute directory (local/posix): the domain lives in <path>/<id>/.',
});
const NfsServer = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9.:\\[\\]-]{0,252}$',
  description: 'NFS server host name or address.',
});
const NfsExport = Type.String({
  pattern: '^/(?!.*(^|/)\\.\\.(/|$))[^\\x00-\\x1f\\x7f:]{0,1023}$',
  maxLength: 1024,
  description: 'Exported path on the NFS server.',
});
const MountOptions = Type.String({
  pattern: '^[A-Za-z0-9_=.,-]{1,512}$',
  description: 'Extra NFS mount options (comma-separated), e.g. nfsvers=4.2.',
});

export const StorageDomain = Type.Object(
  {
    id: Uuid,
    name: Name,
    description: Description,
    kind: Kind,
    backend: Backend,
    datacenter_id: Type.Union([Uuid, Type.Null()]),
    host_id: Type.Union([Uuid, Type.Null()], { description: 'The host of a local domain.' }),
    path: Type.String({ description: 'Parent directory of the domain on its hosts (nfs: the mount point).' }),
    nfs_server: Type.Union([Type.String(), Type.Null()]),
    nfs_export: Type.Union([Type.String(), Type.Null()]),
    mount_options: Type.Union([Type.String(), Type.Null()]),
    state: State,
    state_reason: Type.String(),
    format_version: Type.Integer(),
    total_bytes: Type.Union([Type.Integer(), Type.Null()]),
    free_bytes: Type.Union([Type.Integer(), Type.Null()]),
    capacity_checked_at: Type.Union([Timestamp, Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'StorageDomain', description: 'A storage domain: where disks, ISO images or exports live' },
);
export type StorageDomain = Static<typeof StorageDomain>;

export const StorageDomainCreate = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    kind: Kind,
    backend: Backend,
    /** local: required (the host the directory is on). */
    host_id: Type.Optional(Uuid),
    /** local/posix: required. nfs: not given (the engine derives the mount point). */
    path: Type.Optional(StoragePath),
    nfs_server: Type.Optional(NfsServer),
    nfs_export: Type.Optional(NfsExport),
    mount_options: Type.Optional(MountOptions),
  },
  { additionalProperties: false },
);
export type StorageDomainCreate = Static<typeof StorageDomainCreate>;

/** PATCH body: only the fields given change. Requires `If-Match`. */
export const StorageDomainUpdate = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false, minProperties: 1 },
);
export type StorageDomainUpdate = Static<typeof StorageDomainUpdate>;

export const StorageDomainAttach = Type.Object({ datacenter_id: Uuid }, { additionalProperties: false });
export type StorageDomainAttach = Static<typeof StorageDomainAttach>;

/** `POST /storage-domains/import`: where to look for domains another engine detached. */
export const StorageDomainImport = Type.Object(
  {
    backend: Backend,
    /** local/posix: the directory holding `<id>/dom_md/metadata.json`. */
    path: Type.Optional(StoragePath),
    /** local: required; posix/nfs: the host that looks (default: any host that is up). */
    host_id: Type.Optional(Uuid),
    nfs_server: Type.Optional(NfsServer),
    nfs_export: Type.Optional(NfsExport),
    mount_options: Type.Optional(MountOptions),
  },
  { additionalProperties: false },
);
export type StorageDomainImport = Static<typeof StorageDomainImport>;

export const StorageDomainImportResult = Type.Object(
  { domains: Type.Array(Type.Ref(StorageDomain)) },
  { description: 'The domains registered (unattached); disks inside them are not imported yet.' },
);

export const IsoFile = Type.Object({
  name: Type.String(),
  size_bytes: Type.Integer(),
  modified_at: Timestamp,
});
export const IsoFileList = Type.Object({ files: Type.Array(IsoFile) });
export type IsoFileList = Static<typeof IsoFileList>;

export const STORAGE_DOMAIN_SORT_FIELDS = ['name', 'created_at', 'updated_at'] as const;
export const StorageDomainListQuery = ListQuery(STORAGE_DOMAIN_SORT_FIELDS, {
  datacenter_id: Type.Optional(Uuid),
  kind: Type.Optional(Kind),
  state: Type.Optional(State),
});
export type StorageDomainListQuery = Static<typeof StorageDomainListQuery>;
export const StorageDomainPage = Page(Type.Ref(StorageDomain), 'StorageDomainPage');
