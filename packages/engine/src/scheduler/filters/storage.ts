/**
 * Storage filter: a VM runs only on a host that sees every storage domain its disks live in. Shared
 * domains (posix, nfs) are reachable from every host of their data center (the VM's cluster is in it);
 * a `local` domain only from its own host, so local disks pin the VM there.
 */

/** What placement must know about a VM's storage. */
export interface StorageNeeds {
  /** Hosts of the `local` domains the VM's disks are in (every one must be the chosen host). */
  localHostIds: string[];
}

export function storageNeeds(domains: readonly { backend: string; host_id: string | null }[]): StorageNeeds {
  const local = domains.flatMap((d) => (d.backend === 'local' && d.host_id ? [d.host_id] : []));
  return { localHostIds: [...new Set(local)] };
}

/** Whether `hostId` sees all the VM's domains. */
export function seesStorage(hostId: string, needs: StorageNeeds): boolean {
  return needs.localHostIds.every((h) => h === hostId);
}
