import type { MethodHandlers } from '../../rpc/handlers';
import type { StorageDomains } from '../domains/service';
import { NfsTree } from '../nfs/tree';
import { scanDisks } from './scan-disks';

/**
 * `storage.scan_disks`: only inside a domain active on this host (its root from the domain list; a
 * userspace-mode nfs domain through the agent's NFS client, ADR 027).
 */
export function registrationHandlers(domains: StorageDomains): MethodHandlers {
  return {
    'storage.scan_disks': async (p) => {
      const nfs = domains.userspaceDomain(p.domain_id);
      return {
        disks: await scanDisks(nfs ? new NfsTree(nfs) : await domains.rootOf(p.domain_id), {
          ...(p.disk_ids ? { diskIds: p.disk_ids } : {}),
          ...(p.exclude_disk_ids ? { excludeDiskIds: p.exclude_disk_ids } : {}),
        }),
      };
    },
  };
}
