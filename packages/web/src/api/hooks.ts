import {
  type QueryClient,
  useMutation,
  useQuery,
  useQueryClient,
  type UseQueryResult,
} from '@tanstack/react-query';
import type { ListQuery, MutationResult, Page, VireoEvent } from '@vireo/client';
import { createContext, useContext, useEffect, useState } from 'react';
import { api } from './client';
import { type Collection, listKey, objectKey } from './keys';
import type { LiveStatus, LiveUpdates } from './live';

export const LiveContext = createContext<LiveUpdates | null>(null);

function useLive(): LiveUpdates {
  const live = useContext(LiveContext);
  if (!live) throw new Error('useLive outside <LiveContext.Provider>');
  return live;
}

/**
 * One page of a collection, kept fresh by the event stream (never polled): `GET /{collection}`
 * with `?limit&cursor&search&sort` and filters.
 */
export function useLiveList<T>(collection: Collection, query: ListQuery = {}): UseQueryResult<Page<T>> {
  return useQuery({
    queryKey: listKey(collection, query),
    queryFn: ({ signal }) => api.list<T>(`/${collection}`, query, signal),
    placeholderData: (previous) => previous,
  });
}

/** One object (`GET /{collection}/{id}` or a sub-resource), kept fresh by the event stream. */
export function useLiveObject<T>(
  collection: Collection,
  id: string | undefined,
  ...sub: string[]
): UseQueryResult<T> {
  return useQuery({
    queryKey: objectKey(collection, id ?? '', ...sub),
    queryFn: ({ signal }) =>
      api.get<T>(`/${collection}/${encodeURIComponent(id ?? '')}${sub.map((s) => `/${s}`).join('')}`, {
        signal,
      }),
    enabled: id !== undefined && id !== '',
  });
}

/** Calls `listener` for each live event while the component is mounted. */
export function useLiveEvents(listener: (event: VireoEvent) => void): void {
  const live = useLive();
  useEffect(() => live.subscribe(listener), [live, listener]);
}

/** The event stream's state, for the masthead's indicator. */
export function useLiveStatus(): LiveStatus {
  const live = useLive();
  const [status, setStatus] = useState(live.status);
  useEffect(() => {
    setStatus(live.status);
    return live.onStatus(setStatus);
  }, [live]);
  return status;
}

/** A mutating call whose answer is either done or an accepted Operation; refreshes `collection`. */
export function useApiMutation<V, T = unknown>(
  collection: Collection,
  fn: (vars: V) => Promise<MutationResult<T>>,
) {
  const queries = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSettled: () => refresh(queries, collection),
  });
}

/** Invalidates a collection's lists and objects (after a mutation answered). */
export function refresh(queries: QueryClient, collection: Collection): Promise<void> {
  return Promise.all([
    queries.invalidateQueries({ queryKey: listKey(collection) }),
    queries.invalidateQueries({ queryKey: ['object', collection] }),
    queries.invalidateQueries({ queryKey: listKey('operations') }),
  ]).then(() => undefined);
}
