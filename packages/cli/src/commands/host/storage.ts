import type { Host } from '@vireo/client';

/** How a host reaches nfs domains, as its agent reported it (ADR 027). */
export interface HostNfsAccess {
  mode: 'kernel' | 'userspace';
  reason: string;
}

/** Whether a host can seal templates, as its agent reported it (ADR 030). */
export interface HostSealing {
  available: boolean;
  reason: string;
}

/**
 * The storage abilities in a host's `capabilities.storage`. Each part is undefined when the agent
 * reported nothing (not connected yet, or an agent older than the field): the engine stores the
 * capabilities as an open record, so every field is checked rather than trusted.
 */
export function hostStorage(host: Pick<Host, 'capabilities'>): { nfs?: HostNfsAccess; seal?: HostSealing } {
  const storage = record(record(host.capabilities)?.storage);
  const nfs = record(storage?.nfs);
  const seal = record(storage?.seal);
  return {
    nfs:
      (nfs?.mode === 'kernel' || nfs?.mode === 'userspace') && typeof nfs.reason === 'string'
        ? { mode: nfs.mode, reason: nfs.reason }
        : undefined,
    seal:
      typeof seal?.available === 'boolean' && typeof seal.reason === 'string'
        ? { available: seal.available, reason: seal.reason }
        : undefined,
  };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

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
