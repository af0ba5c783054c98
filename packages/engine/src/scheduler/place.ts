/**
 * VM placement: pure, so every verdict is table-tested and the explain API (later) can show it.
 * Filters run per host in order and the first failing one gives that host's reason; the first host
 * that passes every filter wins (scheduling policy `none`; weights come with other policies).
 */

import { seesStorage, type StorageNeeds } from './filters/storage';

/** What placement knows about one host of the VM's cluster. */
export interface PlacementHost {
  id: string;
  name: string;
  /** Host state (`up`, `maintenance`, `non_responsive`, …). */
  state: string;
  /** Total memory the host reported in its capabilities; null when it never reported. */
  memoryTotalMib: number | null;
  /** Memory of the VMs already running (or starting) there. */
  committedMib: number;
}

/** The VM's needs. */
export interface PlacementRequest {
  memoryMib: number;
  /** Guest memory allowed per 100 MiB of host memory (cluster `memory_overcommit_percent`). */
  overcommitPercent: number;
  /** Storage domains the VM's disks need (filters/storage.ts); none when left out. */
  storage?: StorageNeeds;
}

/** Why a host was not chosen; stable strings, shown in `no_host_available` details. */
export type RejectReason =
  | 'host_not_up'
  | 'host_in_maintenance'
  | 'no_capabilities'
  | 'not_enough_memory'
  | 'storage_not_reachable';

export interface HostVerdict {
  host_id: string;
  name: string;
  accepted: boolean;
  reason?: RejectReason;
  /** Memory still free for guests on that host (after overcommit), when known. */
  free_mib?: number;
}

export type PlacementResult =
  | { ok: true; hostId: string; verdicts: HostVerdict[] }
  | { ok: false; verdicts: HostVerdict[] };

/** Guest memory the host can still take, after overcommit; null when its capacity is unknown. */
export function freeMemoryMib(host: PlacementHost, overcommitPercent: number): number | null {
  if (host.memoryTotalMib === null) return null;
  return Math.floor((host.memoryTotalMib * overcommitPercent) / 100) - host.committedMib;
}

function judge(host: PlacementHost, req: PlacementRequest): HostVerdict {
  const base = { host_id: host.id, name: host.name };
  if (host.state === 'maintenance' || host.state === 'preparing_maintenance')
    return { ...base, accepted: false, reason: 'host_in_maintenance' };
  if (host.state !== 'up') return { ...base, accepted: false, reason: 'host_not_up' };
  if (req.storage && !seesStorage(host.id, req.storage))
    return { ...base, accepted: false, reason: 'storage_not_reachable' };
  const free = freeMemoryMib(host, req.overcommitPercent);
  if (free === null) return { ...base, accepted: false, reason: 'no_capabilities' };
  if (free < req.memoryMib) return { ...base, accepted: false, reason: 'not_enough_memory', free_mib: free };
  return { ...base, accepted: true, free_mib: free };
}

/**
 * Picks a host for a VM. Hosts are judged in the order given (callers sort them by name, so the
 * choice is stable); every host gets a verdict even after one was chosen, for explanations.
 */
export function place(hosts: readonly PlacementHost[], req: PlacementRequest): PlacementResult {
  const verdicts = hosts.map((h) => judge(h, req));
  const chosen = verdicts.find((v) => v.accepted);
  return chosen ? { ok: true, hostId: chosen.host_id, verdicts } : { ok: false, verdicts };
}
