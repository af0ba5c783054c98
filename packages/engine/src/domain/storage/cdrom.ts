import { join } from 'node:path';
import type { Executor } from '../../db/schema';
import type { StorageDomainRow } from '../../db/tables/storage';
import type { VmRow } from '../../db/tables/vms';
import { Conflict, NotFound } from '../../errors';
import { type DomainLocation, isoPath } from './paths';

/** What the VM API says about a CD-ROM: an ISO domain's file, or (older form) a name in VIREO_ISO_DIR. */
export type CdromInput = { storage_domain_id: string; file: string } | { image: string } | null;

/** The `vms` columns a CD-ROM input sets. */
export function cdromColumns(cdrom: CdromInput): {
  cdrom_image: string | null;
  cdrom_storage_domain_id: string | null;
  cdrom_file: string | null;
} {
  if (cdrom && 'storage_domain_id' in cdrom) {
    return { cdrom_image: null, cdrom_storage_domain_id: cdrom.storage_domain_id, cdrom_file: cdrom.file };
  }
  return { cdrom_image: cdrom?.image ?? null, cdrom_storage_domain_id: null, cdrom_file: null };
}

/** The wire form of a VM's CD-ROM. */
export function cdromOf(
  vm: Pick<VmRow, 'cdrom_image' | 'cdrom_storage_domain_id' | 'cdrom_file'>,
): CdromInput {
  if (vm.cdrom_storage_domain_id && vm.cdrom_file) {
    return { storage_domain_id: vm.cdrom_storage_domain_id, file: vm.cdrom_file };
  }
  return vm.cdrom_image === null ? null : { image: vm.cdrom_image };
}

/** A CD-ROM must come from an ISO domain that exists (attached or not: media can wait for it). */
export async function checkCdromDomain(ex: Executor, cdrom: CdromInput): Promise<void> {
  if (!cdrom || !('storage_domain_id' in cdrom)) return;
  const d = await ex
    .selectFrom('storage_domains')
    .select(['id', 'name', 'kind'])
    .where('id', '=', cdrom.storage_domain_id)
    .executeTakeFirst();
  if (!d) {
    throw new NotFound(
      'storage_domain_not_found',
      `storage domain ${cdrom.storage_domain_id} does not exist`,
      {
        details: { id: cdrom.storage_domain_id, field: '/cdrom/storage_domain_id' },
      },
    );
  }
  if (d.kind !== 'iso') {
    throw new Conflict('storage_domain_state_invalid', `storage domain ${d.name} is not an ISO domain`, {
      details: { id: d.id, kind: d.kind, field: '/cdrom/storage_domain_id' },
    });
  }
}

/** The ISO domain a VM's CD-ROM is in, for `cdromPath` (undefined when it has none). */
export async function cdromDomainOf(
  ex: Executor,
  vm: Pick<VmRow, 'cdrom_storage_domain_id'>,
): Promise<StorageDomainRow | undefined> {
  if (!vm.cdrom_storage_domain_id) return undefined;
  return ex
    .selectFrom('storage_domains')
    .selectAll()
    .where('id', '=', vm.cdrom_storage_domain_id)
    .executeTakeFirst();
}

/**
 * The host path of a VM's CD-ROM image: `<domain>/images/iso/<file>` for an ISO domain's file (the
 * agent lets QEMU open it only while the domain is active there), else the file in `isoDir`.
 */
export function cdromPath(
  vm: Pick<VmRow, 'cdrom_image' | 'cdrom_storage_domain_id' | 'cdrom_file'>,
  isoDir: string,
  domain?: DomainLocation,
): string | null {
  if (vm.cdrom_storage_domain_id && vm.cdrom_file) {
    if (!domain || domain.id !== vm.cdrom_storage_domain_id) {
      throw new Error(`the ISO domain ${vm.cdrom_storage_domain_id} of the VM's CD-ROM was not given`);
    }
    return isoPath(domain, vm.cdrom_file);
  }
  return vm.cdrom_image === null ? null : join(isoDir, vm.cdrom_image);
}
