import type { StorageDomain as ApiStorageDomain } from '@vireo/api';
import { ResourceApi, type VireoClient } from '@vireo/client';
import type { ResourceKind } from '../common/kinds';

export type StorageDomain = ApiStorageDomain;

const gib = (v: number | null) => (v === null ? undefined : `${(v / 1024 ** 3).toFixed(1)} GiB`);

/** `storage-domain`: the client has no typed accessor for it, so the generic resource API is used. */
export const storageDomainKind: ResourceKind<StorageDomain> = {
  noun: 'storage-domain',
  label: 'storage domain',
  api: (c: VireoClient) => new ResourceApi<StorageDomain>(c, '/storage-domains', 'storage_domain'),
  named: true,
  columns: [
    { header: 'NAME', value: (d) => d.name, minWidth: 10 },
    { header: 'ID', value: (d) => d.id, minWidth: 8 },
    { header: 'KIND', value: (d) => d.kind, overflow: 'fixed' },
    { header: 'BACKEND', value: (d) => d.backend, overflow: 'fixed' },
    { header: 'STATE', value: (d) => d.state, overflow: 'fixed' },
    { header: 'FREE', value: (d) => gib(d.free_bytes), overflow: 'fixed', align: 'right' },
    { header: 'TOTAL', value: (d) => gib(d.total_bytes), overflow: 'fixed', align: 'right' },
  ],
};

/** The NAME|ID argument (no live completion: the completer knows the client's typed kinds only). */
export const domainArg = {
  name: 'name|id',
  description: "the storage domain's name or id",
  required: true,
} as const;
