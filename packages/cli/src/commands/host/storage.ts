import type { HostNfsAccess, HostSealing } from '@vireo/client';

/** The words `vireo host show` prints for NFS access ("—" when unknown). */
export function nfsAccessText(nfs: HostNfsAccess | undefined): string {
  if (!nfs) return '—';
  const how = nfs.mode === 'kernel' ? 'kernel client' : "QEMU's built-in NFS driver (userspace)";
  return nfs.reason ? `${how} — ${nfs.reason}` : how;
}

/** The words `vireo host show` prints for template sealing ("—" when unknown). */
export function sealingText(seal: HostSealing | undefined): string {
  if (!seal) return '—';
  if (!seal.available) return `unavailable: ${seal.reason}`;
  return seal.reason ? `available — ${seal.reason}` : 'available';
}
