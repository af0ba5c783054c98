import { sql } from 'kysely';
import type { PlacementHost } from '../../scheduler/place';
import type { Executor } from '../schema';

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
  // Hosts and their committed memory in one statement (was two): this runs while the cluster row
  // is locked, so every round trip here is one that every other start in the cluster waits for.
  // A new statement after the lock, so it sees what starts that held the lock before committed.
  // Committed: memory of VMs placed there that run or are meant to run (a start in flight reserves).
  const { rows } = await sql<{
    id: string;
    name: string;
    state: string;
    memory_bytes: string | null;
    committed_mib: string | null;
  }>`
    SELECT h.id, h.name, h.state, h.capabilities->>'memory_total_bytes' AS memory_bytes,
      (SELECT sum(v.memory_mib) FROM vms v
        WHERE v.host_id = h.id AND (v.desired_state <> 'down' OR v.state <> 'down')) AS committed_mib
    FROM hosts h WHERE h.cluster_id = ${clusterId} ORDER BY h.name, h.id`.execute(ex);
  return {
    overcommitPercent: cluster.memory_overcommit_percent,
    hosts: rows.map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state,
      memoryTotalMib: r.memory_bytes === null ? null : Math.floor(Number(r.memory_bytes) / 1048576),
      committedMib: r.committed_mib === null ? 0 : Number(r.committed_mib),
    })),
  };
}
