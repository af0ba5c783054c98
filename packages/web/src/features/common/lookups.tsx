import type { ListQuery } from '@vireo/client';
import { useMemo } from 'react';
import { Link } from 'react-router';
import { type Collection, useLiveList } from '../../api';

const ALL: ListQuery = { limit: 200, sort: 'name' };

/** id → name for a small collection (data centers, clusters, hosts), for showing references. */
export function useNames(collection: Collection): Map<string, string> {
  const list = useLiveList<{ id: string; name: string }>(collection, ALL);
  return useMemo(() => new Map((list.data?.items ?? []).map((i) => [i.id, i.name])), [list.data]);
}

/** The options of a reference picker: every object of a small collection, by name. */
export function useOptions(collection: Collection): { value: string; label: string }[] {
  const list = useLiveList<{ id: string; name: string }>(collection, ALL);
  return useMemo(() => (list.data?.items ?? []).map((i) => ({ value: i.id, label: i.name })), [list.data]);
}

/** A link to a referenced object, by its name (its id while names load). */
export function RefLink({
  names,
  path,
  id,
}: {
  names: Map<string, string>;
  path: string;
  id: string | null;
}) {
  if (!id) return <>—</>;
  return <Link to={`/${path}/${id}`}>{names.get(id) ?? id.slice(0, 8)}</Link>;
}
