import type { StorageDomainCreate, StorageDomainImport } from '@vireo/api';

/** What the storage-domain form holds: every field as typed, whichever backend is chosen. */
export interface DomainFormValues {
  name: string;
  description: string;
  kind: 'data' | 'iso' | 'export';
  backend: 'local' | 'posix' | 'nfs';
  host_id: string;
  path: string;
  nfs_server: string;
  nfs_export: string;
  mount_options: string;
}

export const EMPTY_DOMAIN_FORM: DomainFormValues = {
  name: '',
  description: '',
  kind: 'data',
  backend: 'local',
  host_id: '',
  path: '',
  nfs_server: '',
  nfs_export: '',
  mount_options: '',
};

/** The fields a backend uses (the form shows only these; the rest are not sent). */
export function backendFields(backend: DomainFormValues['backend']): (keyof DomainFormValues)[] {
  if (backend === 'local') return ['host_id', 'path'];
  if (backend === 'posix') return ['path'];
  return ['nfs_server', 'nfs_export', 'mount_options'];
}

/**
 * The location part of a create or import body: only the backend's own fields, trimmed, empty ones
 * left out so the engine names what is missing (its message then appears under that field).
 */
function location(v: DomainFormValues): Partial<StorageDomainImport> {
  const out: Record<string, string> = {};
  for (const f of backendFields(v.backend)) {
    const value = v[f].trim();
    if (value !== '') out[f] = value;
  }
  return out as Partial<StorageDomainImport>;
}

/** `POST /storage-domains` body from the form. */
export function createBody(v: DomainFormValues): StorageDomainCreate {
  const description = v.description.trim();
  return {
    name: v.name.trim(),
    kind: v.kind,
    backend: v.backend,
    ...(description ? { description } : {}),
    ...location(v),
  } as StorageDomainCreate;
}

/** `POST /storage-domains/import` body from the form (no name or kind: they come from the storage). */
export function importBody(v: DomainFormValues): StorageDomainImport {
  return { backend: v.backend, ...location(v) } as StorageDomainImport;
}

/** Actions a domain offers in a state (the engine refuses the rest; the portal disables them). */
export const DOMAIN_ACTION_STATES: Record<string, readonly string[]> = {
  attach: ['unattached'],
  activate: ['maintenance', 'inactive'],
  maintenance: ['active', 'inactive'],
  detach: ['maintenance'],
  remove: ['unattached'],
};

export function domainActionAllowed(action: string, state: string): boolean {
  return DOMAIN_ACTION_STATES[action]?.includes(state) ?? false;
}

/** Used share of a domain in percent, or null while its capacity is unknown. */
export function usedPercent(total: number | null, free: number | null): number | null {
  if (total === null || free === null || total <= 0) return null;
  return Math.min(100, Math.max(0, Math.round(((total - free) / total) * 100)));
}
