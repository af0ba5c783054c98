import { sql } from 'kysely';
import type { PlacementHost } from '../../scheduler/place';
import type { Executor } from '../schema';
import { committedMemoryByHost } from './vms';

/**
 * The cluster's hosts as placement sees them, ordered by name so the choice is stable. Locks the
 * cluster row first: two starts placing at once in one cluster would otherwise both count the same
 * free memory. Raw SQL on `hosts` keeps this independent of the hosts module's table typings.
 */
export async function placementHostsLocked(
  ex: Executor,
  clusterId: string,
): Promise<{ overcommitPercent: number; hosts: PlacementHost[] } | undefined> {
  const cluster = await ex
    .selectFrom('clusters')
    .select(['memory_overcommit_percent'])
    .where('id', '=', clusterId)
    .forUpdate()
    .executeTakeFirst();
  if (!cluster) return undefined;
  const { rows } = await sql<{ id: string; name: string; state: string; memory_bytes: string | null }>`
    SELECT id, name, state, capabilities->>'memory_total_bytes' AS memory_bytes
    FROM hosts WHERE cluster_id = ${clusterId} ORDER BY name, id`.execute(ex);
  const committed = await committedMemoryByHost(
    ex,
    rows.map((r) => r.id),
  );
  return {
    overcommitPercent: cluster.memory_overcommit_percent,
    hosts: rows.map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state,
      memoryTotalMib: r.memory_bytes === null ? null : Math.floor(Number(r.memory_bytes) / 1048576),
      committedMib: committed.get(r.id) ?? 0,
    })),
  };
}
