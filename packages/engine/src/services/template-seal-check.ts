import { hostsSeeingDomain } from '../db/repositories/disks';
import type { Executor } from '../db/schema';
import { Conflict } from '../errors';

/** What an agent reports of its seal appliance (`host.capabilities` → `storage.seal`, ADR 030). */
function sealOf(capabilities: unknown): { available: boolean; reason: string } | undefined {
  const storage = (capabilities as { storage?: { seal?: unknown } } | null)?.storage;
  const seal = storage?.seal as { available?: unknown; reason?: unknown } | undefined;
  if (typeof seal?.available !== 'boolean') return undefined;
  return { available: seal.available, reason: typeof seal.reason === 'string' ? seal.reason : '' };
}

/**
 * Refuses a sealed template before anything is copied when no up host that sees one of the
 * disks' domains has the seal appliance: otherwise every disk would be copied first and the
 * template would end `illegal` on the agent's `seal_unavailable`. A host that never reported
 * `storage.seal` (an older agent) counts as able — its agent still answers for itself.
 * @throws Conflict `seal_unavailable` naming each host and its reason
 */
export async function refuseSealWithoutAppliance(ex: Executor, domainIds: string[]): Promise<void> {
  for (const id of new Set(domainIds)) {
    const domain = await ex.selectFrom('storage_domains').selectAll().where('id', '=', id).executeTakeFirst();
    if (!domain) continue;
    const hostIds = await hostsSeeingDomain(ex, domain);
    // No host at all: the operation fails with its own no_host_for_storage.
    if (hostIds.length === 0) continue;
    const hosts = await ex
      .selectFrom('hosts')
      .select(['id', 'name', 'capabilities'])
      .where('id', 'in', hostIds)
      .orderBy('name')
      .execute();
    const refusals: { host_id: string; host: string; reason: string }[] = [];
    for (const h of hosts) {
      const seal = sealOf(h.capabilities);
      if (!seal || seal.available) {
        refusals.length = 0;
        break;
      }
      refusals.push({ host_id: h.id, host: h.name, reason: seal.reason });
    }
    const first = refusals[0];
    if (first) {
      throw new Conflict(
        'seal_unavailable',
        `no host that sees storage domain ${domain.name} can seal templates (${first.host}: ${first.reason || 'no seal appliance'})`,
        { details: { storage_domain_id: domain.id, hosts: refusals } },
      );
    }
  }
}
