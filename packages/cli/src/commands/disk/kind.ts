import type { Disk as ApiDisk } from '@vireo/api';
import { ResourceApi, type VireoClient } from '@vireo/client';
import type { ResourceKind } from '../common/kinds';

export type Disk = ApiDisk;

/** Sizes as people read them: GiB when whole, else MiB. */
export function formatSize(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return Number.isInteger(gib) ? `${gib} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** `disk`: the client has no typed accessor for it, so the generic resource API is used. */
export const diskKind: ResourceKind<Disk> = {
  noun: 'disk',
  label: 'disk',
  api: (c: VireoClient) => new ResourceApi<Disk>(c, '/disks', 'disk'),
  named: true,
  columns: [
    { header: 'NAME', value: (d) => d.name, minWidth: 10 },
    { header: 'ID', value: (d) => d.id, minWidth: 8 },
    { header: 'SIZE', value: (d) => formatSize(d.size_bytes), overflow: 'fixed', align: 'right' },
    { header: 'FORMAT', value: (d) => d.format, overflow: 'fixed' },
    { header: 'STATE', value: (d) => d.state, overflow: 'fixed' },
    { header: 'DOMAIN', value: (d) => d.storage_domain_id, minWidth: 8 },
    { header: 'VMS', value: (d) => String(d.vm_ids.length), overflow: 'fixed', align: 'right' },
    // New disks are encrypted by default (ADR 029): the list says which ones are. Last, so
    // scripts matching the older columns keep working.
    { header: 'ENCRYPTED', value: (d) => (d.encrypted ? 'yes' : 'no'), overflow: 'fixed' },
  ],
};

/** The NAME|ID argument of disk commands. */
export const diskArg = { name: 'disk', description: "the disk's name or id", required: true } as const;

/** Parses a size: `10` or `10G` (GiB), `512M` (MiB), `1073741824B` (bytes). */
export function parseSize(value: unknown): { size_bytes: number } | undefined {
  const m = /^(\d+)([GMB]?)$/i.exec(String(value ?? '').trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] || 'G').toUpperCase();
  const bytes = unit === 'G' ? n * 1024 ** 3 : unit === 'M' ? n * 1024 ** 2 : n;
  return bytes > 0 ? { size_bytes: bytes } : undefined;
}
