import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { insertStorageDomain } from '../db/repositories/storage-domains';
import type { Db } from '../db/schema';
import type { AuditRecorder } from '../services/ports';
import type { StorageDomainController } from './storage-domain-controller';

/** The all-in-one domains: name → kind. */
export const LOCAL_DOMAINS = [
  { name: 'local-data', kind: 'data' as const, description: 'Disks on this machine (all-in-one)' },
  { name: 'local-iso', kind: 'iso' as const, description: 'ISO images on this machine (all-in-one)' },
];

/** Where the local domains live: `<data dir>/storage/<domain id>/`. */
export function localStorageDir(dataDir: string): string {
  return path.join(dataDir, 'storage');
}

/**
 * All-in-one mode (`npm start`): makes sure this machine has a data domain `local-data` and an ISO
 * domain `local-iso` on its local host, attached to the local host's data center and active, before
 * the engine says it is ready. Idempotent: existing domains (matched by name) are only re-activated;
 * one an administrator put in maintenance or detached is left as it is.
 */
export async function ensureLocalStorageDomains(deps: {
  db: Db;
  hub: AgentHub;
  controller: StorageDomainController;
  audit: AuditRecorder;
  log: Logger;
  dataDir: string;
  timeoutMs?: number;
}): Promise<void> {
  const log = deps.log.child({ module: 'engine:local-storage' });
  const idFile = path.join(deps.dataDir, 'local-agent', 'engine-host-id');
  const hostId = fs.existsSync(idFile) ? fs.readFileSync(idFile, 'utf8').trim() : '';
  const host = hostId
    ? await deps.db
        .selectFrom('hosts')
        .innerJoin('clusters', 'clusters.id', 'hosts.cluster_id')
        .select(['hosts.id', 'clusters.datacenter_id'])
        .where('hosts.id', '=', hostId)
        .executeTakeFirst()
    : undefined;
  if (!host) {
    log.warn('the local host is not enrolled; no local storage domains');
    return;
  }
  const deadline = Date.now() + (deps.timeoutMs ?? 120_000);
  // The host monitor marks the host up once its agent answered; activation needs exactly that.
  for (;;) {
    const row = await deps.db
      .selectFrom('hosts')
      .select('state')
      .where('id', '=', host.id)
      .executeTakeFirst();
    if (row?.state === 'up' && deps.hub.isConnected(host.id)) break;
    if (Date.now() > deadline)
      throw new Error('the local host did not come up in time for its storage domains');
    await sleep(200);
  }
  const parent = localStorageDir(deps.dataDir);
  for (const want of LOCAL_DOMAINS) {
    let row = await deps.db
      .selectFrom('storage_domains')
      .selectAll()
      .where(({ fn }) => fn('lower', ['name']), '=', want.name)
      .executeTakeFirst();
    if (!row) {
      row = await deps.db.transaction().execute(async (tx) => {
        const created = await insertStorageDomain(tx, {
          name: want.name,
          description: want.description,
          kind: want.kind,
          backend: 'local',
          host_id: host.id,
          path: parent,
        });
        await deps.audit.record(tx, {
          kind: 'storage_domain.created',
          severity: 'info',
          message: `Storage domain ${created.name} was created for this machine (all-in-one)`,
          object: { kind: 'storage_domain', id: created.id, name: created.name },
          details: { kind: created.kind, backend: 'local', path: parent, host_id: host.id },
        });
        return created;
      });
    }
    // Created by us earlier (or just now), unattached or active: make it active. Anything else
    // (maintenance, another data center) is an administrator's choice we keep.
    const ours = row.state === 'unattached' || row.state === 'active' || row.state === 'inactive';
    if (!ours) continue;
    const done = await deps.controller.ensureActive(row.id, row.datacenter_id ?? host.datacenter_id);
    log.info({ domain: done.name, id: done.id, state: done.state }, 'local storage domain ready');
  }
}

/**
 * Runs {@link ensureLocalStorageDomains} and waits for it at most `waitMs` (default 10 s,
 * `VIREO_LOCAL_STORAGE_WAIT_MS`): on a normal start the domains are active before `ready at`; on a
 * slow machine the engine does not hold its readiness hostage to the local agent, and the set-up
 * finishes in the background (failures are logged, never fatal).
 */
export async function startLocalStorageSetup(
  deps: Parameters<typeof ensureLocalStorageDomains>[0],
  waitMs = 10_000,
): Promise<void> {
  const done = ensureLocalStorageDomains(deps).catch((err: unknown) =>
    deps.log.error({ err }, 'setting up the local storage domains failed'),
  );
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
    timer.unref();
  });
  await Promise.race([done, waited]);
  clearTimeout(timer);
}

/** `VIREO_LOCAL_STORAGE_WAIT_MS` (0…600000), default 10 s. */
export function localStorageWaitMsFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env.VIREO_LOCAL_STORAGE_WAIT_MS;
  if (raw === undefined || raw === '') return 10_000;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0 || ms > 600_000) {
    throw new Error(
      `VIREO_LOCAL_STORAGE_WAIT_MS must be an integer between 0 and 600000, not ${JSON.stringify(raw)}`,
    );
  }
  return ms;
}
