import type { StorageDomainRef } from '@vireo/agent-protocol';
import type { StorageDomainRow } from '../../db/tables/storage';

/**
 * Where agents mount nfs domains: `<base>/<domain id>` (tmpfs under /run: a mount never outlives a
 * reboot, so nothing stale is left to find).
 */
export const NFS_MOUNT_BASE = '/run/vireo-agent/storage';

/** The agent's view of a domain row (`storage.activate`'s `domain`). */
export function agentDomainRef(row: StorageDomainRow): StorageDomainRef {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    backend: row.backend,
    path: row.path,
    ...(row.nfs_server ? { nfs_server: row.nfs_server } : {}),
    ...(row.nfs_export ? { nfs_export: row.nfs_export } : {}),
    ...(row.mount_options ? { mount_options: row.mount_options } : {}),
  };
}
