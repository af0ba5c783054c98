import { sql } from 'kysely';
import { registerSnapshotOperations } from '../../src/controllers/snapshot-operations';
import type { Db } from '../../src/db/schema';
import { createOpsApp, type OpsApp } from '../operations/support';
import type { FakeHub } from '../vms/fake-hub';

/** The rows a snapshot test works on: one VM with one 64 MiB qcow2 disk on a local data domain. */
export interface SnapshotVmRows {
  hostId: string;
  domain: { id: string; path: string };
  vmId: string;
  diskId: string;
}

const DISK_BYTES = 64 * 1024 * 1024;

/**
 * Writes an up host, an active local data domain (`/srv/data`) on it, a VM and its disk attached as
 * virtio 0, all in the Default cluster. Names start with `prefix` so the rows tell which test made
 * them. A `running` VM is up on the host (live snapshots); otherwise it keeps its defaults (down).
 * The disk has no volume yet: see {@link insertActiveVolume}.
 */
export async function insertSnapshotVm(
  db: Db,
  opts: { prefix: string; running: boolean },
): Promise<SnapshotVmRows> {
  const cluster = await db
    .selectFrom('clusters')
    .select(['id', 'datacenter_id'])
    .where('name', '=', 'Default')
    .executeTakeFirstOrThrow();
  const host = await sql<{ id: string }>`
    INSERT INTO hosts (name, address, cluster_id, state, capabilities)
    VALUES (${`${opts.prefix}-h1`}, 'h1.test', ${cluster.id}, 'up', '{}'::jsonb) RETURNING id`.execute(db);
  const hostId = host.rows[0]?.id ?? '';
  const dom = await sql<{ id: string; path: string }>`
    INSERT INTO storage_domains (name, kind, backend, datacenter_id, host_id, path, state)
    VALUES (${`${opts.prefix}-data`}, 'data', 'local', ${cluster.datacenter_id}, ${hostId}, '/srv/data', 'active')
    RETURNING id, path`.execute(db);
  const domain = dom.rows[0] as { id: string; path: string };
  const vmName = `${opts.prefix}-vm`;
  const vm = opts.running
    ? await sql<{ id: string }>`
        INSERT INTO vms (name, cluster_id, cpus, memory_mib, state, desired_state, host_id)
        VALUES (${vmName}, ${cluster.id}, 1, 128, 'up', 'up', ${hostId}) RETURNING id`.execute(db)
    : await sql<{ id: string }>`
        INSERT INTO vms (name, cluster_id, cpus, memory_mib) VALUES (${vmName}, ${cluster.id}, 1, 128)
        RETURNING id`.execute(db);
  const vmId = vm.rows[0]?.id ?? '';
  const disk = await sql<{ id: string }>`
    INSERT INTO disks (name, storage_domain_id, size_bytes, format)
    VALUES ('root', ${domain.id}, ${DISK_BYTES}, 'qcow2') RETURNING id`.execute(db);
  const diskId = disk.rows[0]?.id ?? '';
  await sql`INSERT INTO vm_disk_attachments (vm_id, disk_id, position, interface)
    VALUES (${vmId}, ${diskId}, 0, 'virtio')`.execute(db);
  return { hostId, domain, vmId, diskId };
}

/** Writes the disk's active (top) volume, already on storage, and returns its id. */
export async function insertActiveVolume(db: Db, diskId: string): Promise<string> {
  const vol = await sql<{ id: string }>`
    INSERT INTO volumes (disk_id, format, size_bytes, active, on_storage)
    VALUES (${diskId}, 'qcow2', ${DISK_BYTES}, true, true) RETURNING id`.execute(db);
  return vol.rows[0]?.id ?? '';
}

/** The API and operation runner with the snapshot operations registered on `hub` (a recorded fake). */
export function createSnapshotOpsApp(hub: FakeHub): Promise<OpsApp> {
  return createOpsApp({
    register: (ops, ctx) => registerSnapshotOperations(ops.registry, { ...ctx, hub: hub.asHub() }),
  });
}
