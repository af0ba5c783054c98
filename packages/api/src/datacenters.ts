import { type Static, Type } from '@sinclair/typebox';
import { Description, ListQuery, Name, Page, Timestamp, Uuid } from './common';

/** Layout of the metadata Vireo writes on a data center's storage domains. */
export const STORAGE_FORMATS = ['v1'] as const;
/** Feature levels an engine of this version can run a data center at. */
export const COMPATIBILITY_VERSIONS = ['1.0'] as const;

const StorageFormat = Type.Union(
  STORAGE_FORMATS.map((f) => Type.Literal(f)),
  { description: 'Storage domain metadata format.' },
);
const CompatibilityVersion = Type.Union(
  COMPATIBILITY_VERSIONS.map((v) => Type.Literal(v)),
  { description: 'Feature level of every host and cluster in the data center.' },
);

export const DataCenter = Type.Object(
  {
    id: Uuid,
    name: Name,
    description: Description,
    storage_format: StorageFormat,
    compatibility_version: CompatibilityVersion,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'DataCenter', description: 'A data center: the top of the inventory; owns clusters' },
);
export type DataCenter = Static<typeof DataCenter>;

export const DataCenterCreate = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    storage_format: Type.Optional(StorageFormat),
    compatibility_version: Type.Optional(CompatibilityVersion),
  },
  { additionalProperties: false },
);
export type DataCenterCreate = Static<typeof DataCenterCreate>;

/** PATCH body: only the fields given change. Requires `If-Match`. */
export const DataCenterUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    storage_format: Type.Optional(StorageFormat),
    compatibility_version: Type.Optional(CompatibilityVersion),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type DataCenterUpdate = Static<typeof DataCenterUpdate>;

export const DATACENTER_SORT_FIELDS = ['name', 'created_at', 'updated_at'] as const;
export const DataCenterListQuery = ListQuery(DATACENTER_SORT_FIELDS, {});
export type DataCenterListQuery = Static<typeof DataCenterListQuery>;
export const DataCenterPage = Page(Type.Ref(DataCenter), 'DataCenterPage');
