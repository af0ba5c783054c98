import { sql } from 'kysely';
import type { Db } from '../../src/db/schema';

/**
 * An active data domain row, written directly (the storage-domain controller and agents are not part
 * of these tests): attached to the Default data center, `local` on `hostId` or `posix` without one.
 */
export async function insertDataDomain(
  db: Db,
  opts: { name: string; path: string; hostId?: string; state?: string; kind?: string },
): Promise<string> {
  const dc = await db
    .selectFrom('datacenters')
    .select('id')
    .where('name', '=', 'Default')
    .executeTakeFirstOrThrow();
  const { rows } = await sql<{ id: string }>`
    INSERT INTO storage_domains (name, kind, backend, datacenter_id, host_id, path, state)
    VALUES (${opts.name}, ${opts.kind ?? 'data'}, ${opts.hostId ? 'local' : 'posix'}, ${dc.id},
            ${opts.hostId ?? null}, ${opts.path}, ${opts.state ?? 'active'})
    RETURNING id`.execute(db);
  return rows[0]?.id as string;
}

/**
 * An `up` host row in `clusterId` with 8 GiB of memory, written directly (no agent enrolls): enough
 * for the scheduler to place the small VMs of these tests. Its address is `<name>.test`.
 */
export async function insertUpHost(db: Db, opts: { name: string; clusterId: string }): Promise<string> {
  const capabilities = JSON.stringify({ memory_total_bytes: 8 * 1024 ** 3 });
  const { rows } = await sql<{ id: string }>`
    INSERT INTO hosts (name, address, cluster_id, state, capabilities)
    VALUES (${opts.name}, ${`${opts.name}.test`}, ${opts.clusterId}, 'up', ${capabilities}::jsonb)
    RETURNING id`.execute(db);
  return rows[0]?.id as string;
}
