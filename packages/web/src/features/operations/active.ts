import type { Operation } from '@vireo/client';
import { useMemo } from 'react';
import { useLiveList } from '../../api';

/** The running operations query: one shared cache entry for the masthead and every row using it. */
export const RUNNING_QUERY = { state: 'running', limit: 50, sort: '-created_at' } as const;
/** The recent operations (any state) the tasks drawer lists. */
export const RECENT_QUERY = { limit: 10, sort: '-created_at' } as const;

const unfinished = (o: Operation) => o.state === 'pending' || o.state === 'running';

/**
 * The operations not finished yet (running ones, plus pending ones among the recent), newest
 * first, and the finished recent ones. Both lists stay fresh from the event stream: operation
 * events invalidate them and progress frames move their bars in place.
 */
export function useActiveOperations(): {
  active: Operation[];
  recent: Operation[];
  /** More operations run than the page holds. */
  more: boolean;
  loaded: boolean;
} {
  const running = useLiveList<Operation>('operations', RUNNING_QUERY);
  const latest = useLiveList<Operation>('operations', RECENT_QUERY);
  return useMemo(() => {
    const seen = new Set<string>();
    const active: Operation[] = [];
    for (const op of [...(running.data?.items ?? []), ...(latest.data?.items ?? [])]) {
      if (!unfinished(op) || seen.has(op.id)) continue;
      seen.add(op.id);
      active.push(op);
    }
    active.sort((a, b) => b.created_at.localeCompare(a.created_at));
    const recent = (latest.data?.items ?? []).filter((o) => !unfinished(o) && !seen.has(o.id));
    return {
      active,
      recent,
      more: !!running.data?.next_cursor,
      loaded: running.data !== undefined && latest.data !== undefined,
    };
  }, [running.data, latest.data]);
}

/** The newest unfinished operation acting on `targetId` (a VM, disk, domain…), if any. */
export function useOperationOn(targetId: string | undefined): Operation | undefined {
  const { active } = useActiveOperations();
  if (!targetId) return undefined;
  const id = targetId.toLowerCase();
  return active.find((o) => o.target?.id.toLowerCase() === id);
}
