import type { VireoEvent } from '@vireo/client';

/**
 * Query keys of the portal. Every cached answer is keyed by the collection it came from, so an
 * event about an object can invalidate exactly the lists and details that may show it:
 * `['list', collection, query]` and `['object', collection, id, …sub-resource]`.
 */
export type Collection =
  | 'datacenters'
  | 'clusters'
  | 'hosts'
  | 'vms'
  | 'storage-domains'
  | 'disks'
  | 'templates'
  | 'networks'
  | 'events'
  | 'operations'
  | (string & {});

export const listKey = (collection: Collection, query?: object) =>
  query === undefined ? (['list', collection] as const) : (['list', collection, query] as const);
export const objectKey = (collection: Collection, id: string, ...sub: string[]) =>
  ['object', collection, id, ...sub] as const;

/** The API collection an event's object kind lives in (`storage_domain` → `storage-domains`). */
export function collectionOf(kind: string): Collection {
  const k = kind.replace(/_/g, '-');
  return k.endsWith('s') ? k : `${k}s`;
}

/**
 * The query-key prefixes one event makes stale. Lists of the object's kind (a name or state may
 * have changed, or the object appeared or went away), the object itself with its sub-resources,
 * the event log, and the operations when the event is about one. A VM's or host's change also
 * touches the other's lists (a VM's host, a host's VM count), so both are refreshed.
 */
export function invalidationsFor(event: Pick<VireoEvent, 'kind' | 'object_kind' | 'object_id'>) {
  const keys: (readonly unknown[])[] = [listKey('events')];
  const family = event.kind.split('.')[0] ?? '';
  const kinds = new Set<string>();
  if (event.object_kind) kinds.add(event.object_kind);
  if (family && family !== 'operation' && family !== 'auth' && family !== 'events') kinds.add(family);
  for (const kind of kinds) {
    const collection = collectionOf(kind);
    keys.push(listKey(collection));
    if (event.object_id && kind === event.object_kind) keys.push(objectKey(collection, event.object_id));
  }
  if (kinds.has('vm')) keys.push(listKey('hosts'));
  if (kinds.has('host')) keys.push(listKey('vms'));
  if (kinds.has('disk') || kinds.has('vm')) keys.push(listKey('disks'));
  if (family === 'operation') {
    keys.push(listKey('operations'));
    keys.push(['object', 'operations']);
  }
  return keys;
}
