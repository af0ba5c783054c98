/**
 * The dashboard's figures, computed from the lists the engine serves. Pure, so each rule is
 * tested without a browser. Types name only the fields used, so a list that gains fields (or a
 * storage API that is not there yet) changes nothing here.
 */

export interface HostLike {
  id: string;
  name: string;
  state: string;
  state_reason?: string;
  capabilities: Record<string, unknown> | null;
  stats: Record<string, unknown> | null;
}
export interface VmLike {
  id: string;
  state: string;
  cpus: number;
  memory_mib: number;
}
export interface DomainLike {
  id: string;
  name: string;
  state: string;
  total_bytes: number | null;
  free_bytes: number | null;
}
export interface OperationLike {
  id: string;
  type: string;
  state: string;
  target: { kind: string; id: string } | null;
  error: { code: string; message: string } | null;
  finished_at: string | null;
  created_at: string;
}

export interface StateCount {
  state: string;
  count: number;
}

/**
 * How many objects are in each state: the known states first in their usual order (even at 0, so
 * the card's layout does not jump), then any other state that occurs, alphabetically.
 */
export function countByState(items: readonly { state: string }[], known: readonly string[]): StateCount[] {
  const counts = new Map<string, number>(known.map((s) => [s, 0]));
  for (const item of items) counts.set(item.state, (counts.get(item.state) ?? 0) + 1);
  const extra = [...counts.keys()].filter((s) => !known.includes(s)).sort();
  return [...known, ...extra].map((state) => ({ state, count: counts.get(state) ?? 0 }));
}

/** Used and total of one resource; `total` 0 means nothing reported yet. */
export interface Capacity {
  used: number;
  total: number;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};

/** VM states that hold their host's CPU and memory. */
const RUNNING = new Set(['up', 'starting', 'paused', 'powering_down', 'migrating', 'unknown']);

/**
 * CPU, memory and storage of the whole installation:
 * - CPU: logical CPUs of the `up` hosts, and the vCPUs of running VMs against them (allocation, the
 *   figure that tells whether another VM fits; over 100 % means overcommitted);
 * - memory: physical memory of the `up` hosts and what is in use on them (total − available);
 * - storage: size and use of the storage domains that report them.
 */
export function capacity(
  hosts: readonly HostLike[],
  vms: readonly VmLike[],
  domains: readonly DomainLike[],
): { cpu: Capacity; memory: Capacity; storage: Capacity } {
  const up = hosts.filter((h) => h.state === 'up');
  const cpuTotal = up.reduce((n, h) => n + num(obj(obj(h.capabilities).cpu).logical_cpus), 0);
  const vcpus = vms.filter((v) => RUNNING.has(v.state)).reduce((n, v) => n + num(v.cpus), 0);
  let memTotal = 0;
  let memUsed = 0;
  for (const h of up) {
    const mem = obj(obj(h.stats).memory);
    memTotal += num(mem.total_bytes) || num(obj(h.capabilities).memory_total_bytes);
    memUsed += num(mem.used_bytes);
  }
  let stTotal = 0;
  let stUsed = 0;
  for (const d of domains) {
    if (d.total_bytes === null || d.free_bytes === null) continue;
    stTotal += d.total_bytes;
    stUsed += Math.max(0, d.total_bytes - d.free_bytes);
  }
  return {
    cpu: { used: vcpus, total: cpuTotal },
    memory: { used: memUsed, total: memTotal },
    storage: { used: stUsed, total: stTotal },
  };
}

/** A share 0–100 (rounded to one decimal), or null when there is no total to compare with. */
export function percentOf(c: Capacity): number | null {
  return c.total > 0 ? Math.round((1000 * c.used) / c.total) / 10 : null;
}

export interface Alert {
  /** Stable key for React lists. */
  key: string;
  severity: 'danger' | 'warning';
  /** Message id; the values below fill it. */
  messageId: string;
  values: Record<string, string>;
  /** Where the alert's object is in the portal. */
  link: string | null;
}

const HOST_BAD = new Map<string, Alert['severity']>([
  ['non_responsive', 'danger'],
  ['install_failed', 'danger'],
  ['connecting', 'warning'],
]);

/** How far back a failed operation still counts as an alert. */
export const FAILED_OPERATION_WINDOW_MS = 24 * 3600 * 1000;

/** Portal paths of the objects an operation may target. */
const PAGES: Record<string, string> = { vm: 'vms', host: 'hosts', storage_domain: 'storage/domains' };

/**
 * What needs an administrator's attention: hosts not responding (or failing to install), storage
 * domains that are inactive, and operations that failed in the last day. Most severe first.
 */
export function alerts(
  hosts: readonly HostLike[],
  operations: readonly OperationLike[],
  domains: readonly DomainLike[],
  now = Date.now(),
): Alert[] {
  const out: Alert[] = [];
  for (const h of hosts) {
    const severity = HOST_BAD.get(h.state);
    if (!severity) continue;
    out.push({
      key: `host:${h.id}`,
      severity,
      messageId: `dashboard.alert.host.${h.state}`,
      values: { name: h.name, reason: h.state_reason ?? '' },
      link: `/hosts/${encodeURIComponent(h.id)}`,
    });
  }
  for (const d of domains) {
    if (d.state !== 'inactive') continue;
    out.push({
      key: `domain:${d.id}`,
      severity: 'warning',
      messageId: 'dashboard.alert.domain.inactive',
      values: { name: d.name },
      link: `/storage/domains/${encodeURIComponent(d.id)}`,
    });
  }
  for (const op of operations) {
    if (op.state !== 'failed') continue;
    const at = Date.parse(op.finished_at ?? op.created_at);
    if (!(now - at <= FAILED_OPERATION_WINDOW_MS)) continue;
    const page = op.target ? PAGES[op.target.kind] : undefined;
    out.push({
      key: `operation:${op.id}`,
      severity: 'danger',
      messageId: 'dashboard.alert.operation.failed',
      values: { type: op.type, message: op.error?.message ?? op.error?.code ?? '' },
      link: page && op.target ? `/${page}/${encodeURIComponent(op.target.id)}` : null,
    });
  }
  const rank = (a: Alert) => (a.severity === 'danger' ? 0 : 1);
  return out.sort((a, b) => rank(a) - rank(b));
}
