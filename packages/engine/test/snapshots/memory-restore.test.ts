import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clearMemoryRestore,
  requestMemoryRestore,
  takeMemoryRestore,
} from '../../src/controllers/snapshot-memory';
import { createTestDb, type TestDb } from '../support/db';

/**
 * The memory-restore mark on a real database: a start resumes the saved RAM only while every disk
 * of the snapshot starts on a fresh overlay of the volume the snapshot froze; the mark is used once;
 * undo (clear), or a disk that moved on, makes the next start boot instead.
 */
describe('memory restore mark (real database)', () => {
  let t: TestDb;
  let vmId: string;
  let diskId: string;
  let domainId: string;
  let frozen: string;
  let sid: string;
  const log = pino({ level: 'silent' });

  async function activeOn(parent: string | null): Promise<string> {
    await t.db.updateTable('volumes').set({ active: false }).where('disk_id', '=', diskId).execute();
    const v = await sql<{ id: string }>`
      INSERT INTO volumes (disk_id, parent_id, format, size_bytes, active, on_storage)
      VALUES (${diskId}, ${parent}, 'qcow2', 1048576, true, true) RETURNING id`.execute(t.db);
    return v.rows[0]?.id ?? '';
  }

  beforeAll(async () => {
    t = await createTestDb();
    const cluster = await t.db
      .selectFrom('clusters')
      .select(['id', 'datacenter_id'])
      .where('name', '=', 'Default')
      .executeTakeFirstOrThrow();
    const dom = await sql<{ id: string }>`
      INSERT INTO storage_domains (name, kind, backend, datacenter_id, path, state)
      VALUES ('mem-data', 'data', 'posix', ${cluster.datacenter_id}, '/srv/mem', 'active') RETURNING id`.execute(
      t.db,
    );
    domainId = dom.rows[0]?.id ?? '';
    const vm = await sql<{ id: string }>`
      INSERT INTO vms (name, cluster_id, cpus, memory_mib) VALUES ('mem-vm', ${cluster.id}, 1, 128)
      RETURNING id`.execute(t.db);
    vmId = vm.rows[0]?.id ?? '';
    const disk = await sql<{ id: string }>`
      INSERT INTO disks (name, storage_domain_id, size_bytes, format)
      VALUES ('root', ${domainId}, 1048576, 'qcow2') RETURNING id`.execute(t.db);
    diskId = disk.rows[0]?.id ?? '';
    frozen = await activeOn(null);
    const s = await sql<{ id: string }>`
      INSERT INTO snapshots (vm_id, memory, memory_domain_id, state)
      VALUES (${vmId}, true, ${domainId}, 'ok') RETURNING id`.execute(t.db);
    sid = s.rows[0]?.id ?? '';
    await sql`INSERT INTO snapshot_volumes (snapshot_id, disk_id, volume_id)
      VALUES (${sid}, ${diskId}, ${frozen})`.execute(t.db);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('resumes once, on a fresh overlay of the frozen volume, from the first disk’s directory', async () => {
    await activeOn(frozen);
    await requestMemoryRestore(t.db, vmId, sid);
    expect(await takeMemoryRestore(t.db, vmId, log)).toBe(
      `/srv/mem/${domainId}/images/${diskId}/${sid}.memory`,
    );
    expect(await takeMemoryRestore(t.db, vmId, log)).toBeUndefined();
  });

  it('boots instead when the mark was cleared (undo) or the disk moved on', async () => {
    await requestMemoryRestore(t.db, vmId, sid);
    await clearMemoryRestore(t.db, vmId);
    expect(await takeMemoryRestore(t.db, vmId, log)).toBeUndefined();

    const overlay = (
      await t.db
        .selectFrom('volumes')
        .select('id')
        .where('disk_id', '=', diskId)
        .where('active', '=', true)
        .executeTakeFirstOrThrow()
    ).id;
    await activeOn(overlay); // e.g. a new snapshot on top
    await requestMemoryRestore(t.db, vmId, sid);
    expect(await takeMemoryRestore(t.db, vmId, log)).toBeUndefined();
    const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM vm_memory_restores`.execute(t.db);
    expect(left.rows[0]?.n).toBe(0);
  });
});
