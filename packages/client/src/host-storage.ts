import type { Host } from './types';

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

/** The storage abilities a host's agent reported; a part is undefined when it reported nothing. */
export interface HostStorageAbilities {
  nfs?: HostNfsAccess;
  seal?: HostSealing;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Reads `capabilities.storage` of a host for the portal and the CLI. A part is undefined when the
 * agent reported nothing (not connected yet, or older than the field): the API types capabilities
 * as an open record, so every field is checked rather than trusted.
 */
export function hostStorageAbilities(host: Pick<Host, 'capabilities'>): HostStorageAbilities {
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
