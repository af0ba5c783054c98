/**
 * The name a disk gets when the platform makes it for an owner: `<owner>_Disk<n>`, as for a new VM's
 * disks. Clones, template bases and imports name their disks after their new owner rather than
 * keeping the source disk's name, so `vireo disk show <name>` stays unambiguous after a clone.
 * The owner part is cut so the whole name fits the 64 characters a name may have.
 */
export function ownedDiskName(owner: string, index: number): string {
  const suffix = `_Disk${index + 1}`;
  return `${owner.slice(0, 64 - suffix.length)}${suffix}`;
}
