import type { MethodHandlers } from '../../rpc/handlers';
import type { StorageDomains } from '../domains/service';
import { scanDisks } from './scan-disks';

/** `storage.scan_disks`: only inside a domain active on this host (its root from the domain list). */
export function registrationHandlers(domains: StorageDomains): MethodHandlers {
  return {
    'storage.scan_disks': async (p) => ({
      disks: await scanDisks(await domains.rootOf(p.domain_id), {
        ...(p.disk_ids ? { diskIds: p.disk_ids } : {}),
        ...(p.exclude_disk_ids ? { excludeDiskIds: p.exclude_disk_ids } : {}),
      }),
    }),
  };
}
