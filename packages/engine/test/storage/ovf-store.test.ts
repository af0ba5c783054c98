import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentHub } from '../../src/agents/types';
import { OvfStoreController } from '../../src/controllers/ovf-store';
import { findStorageDomain } from '../../src/db/repositories/storage-domains';
import type { StorageDomainRow } from '../../src/db/tables/storage';
import { insertDataDomain } from '../disks/support';
import { createTestDb, type TestDb } from '../support/db';

/** The agent side of the store: every file call the controller makes, and a switch to fail writes. */
class FakeHub {
  calls: { method: string; path: string; content?: string }[] = [];
  failWrites = false;

  asHub(): AgentHub {
    return {
      call: async (_host: string, method: string, params: { path: string; content?: string }) => {
        this.calls.push({
          method,
          path: params.path,
          ...(params.content ? { content: params.content } : {}),
        });
        if (method === 'storage.file_write' && this.failWrites) throw new Error('disk full');
        return method === 'storage.file_delete' ? { deleted: true } : { path: params.path, size_bytes: 1 };
      },
      isConnected: () => true,
    } as unknown as AgentHub;
  }

  take(): string[] {
    const out = this.calls.map((c) => `${c.method.replace('storage.file_', '')} ${c.path}`).sort();
    this.calls = [];
    return out;
  }
}

/**
 * The OVF store against a real database and a fake agent: it writes what changed and only that,
 * deletes files of objects that left the domain, retries failed writes, and a flush rewrites all.
 */
describe('OVF store controller (level-triggered by digest)', () => {
  let t: TestDb;
  let domain: StorageDomainRow;
  const hub = new FakeHub();
  let store: OvfStoreController;
  let diskId = '';
  let vmId = '';

  beforeAll(async () => {
    t = await createTestDb();
    const id = await insertDataDomain(t.db, { name: 'store-data', path: '/srv/store' });
    domain = (await findStorageDomain(t.db, id)) as StorageDomainRow;
    store = new OvfStoreController({ db: t.db, hub: hub.asHub(), log: pino({ level: 'silent' }) });
    const cluster = await t.db
      .selectFrom('clusters')
      .select('id')
      .where('name', '=', 'Default')
      .executeTakeFirstOrThrow();
    const disk = await t.db
      .insertInto('disks')
      .values({ name: 'root', storage_domain_id: id, size_bytes: 1 << 30, format: 'qcow2' })
      .returning('id')
      .executeTakeFirstOrThrow();
    diskId = disk.id;
    await t.db
      .insertInto('volumes')
      .values({ disk_id: diskId, format: 'qcow2', size_bytes: 1 << 30 })
      .execute();
    const vm = await t.db
      .insertInto('vms')
      .values({
        name: 'store-vm',
        cluster_id: cluster.id,
        cpus: 1,
        memory_mib: 128,
        os_type: 'other_linux',
        boot_order: JSON.stringify(['disk']),
        cdrom_image: null,
        nics: JSON.stringify([]),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    vmId = vm.id;
    await t.db
      .insertInto('vm_disk_attachments')
      .values({ vm_id: vmId, disk_id: diskId, position: 0, interface: 'virtio', bootable: true })
      .execute();
  });

  afterAll(async () => {
    await t?.drop();
  });

  it('writes each file once, again only when its object changes, and deletes what left', async () => {
    const disk = `disks/${diskId}.json`;
    const vm = `vms/${vmId}.ovf`;
    expect((await store.sync(domain, 'h')).written.sort()).toEqual([disk, vm].sort());
    const meta = JSON.parse(hub.calls.find((c) => c.path === disk)?.content ?? 'null');
    expect(meta).toMatchObject({ id: diskId, name: 'root', storage_domain_id: domain.id, encrypted: false });
    expect(hub.take()).toEqual([`write ${disk}`, `write ${vm}`].sort());

    await store.sync(domain, 'h');
    expect(hub.take()).toEqual([]);

    // A renamed disk changes its metadata and the VM's OVF (which names the disk).
    await t.db.updateTable('disks').set({ name: 'system' }).where('id', '=', diskId).execute();
    await store.sync(domain, 'h');
    expect(hub.take()).toEqual([`write ${disk}`, `write ${vm}`].sort());

    // A locked disk keeps its file (neither rewritten nor deleted) until it settles.
    await t.db
      .updateTable('disks')
      .set({ state: 'locked', description: 'moving' })
      .where('id', '=', diskId)
      .execute();
    await store.sync(domain, 'h');
    expect(hub.take()).toEqual([]);
    await t.db.updateTable('disks').set({ state: 'ok' }).where('id', '=', diskId).execute();

    // Settled again: the description changed meanwhile (disk and VM). A failed write is not
    // recorded, so the next pass tries again.
    hub.failWrites = true;
    const failed = await store.sync(domain, 'h');
    expect(failed.errors.map((e) => e.path).sort()).toEqual([disk, vm].sort());
    hub.failWrites = false;
    hub.take();
    await store.sync(domain, 'h');
    expect(hub.take()).toEqual([`write ${disk}`, `write ${vm}`].sort());

    // A flush rewrites everything; with forget the record is cleared, so the next pass writes again.
    await store.flush(domain.id, 'h', { forget: true });
    expect(hub.take()).toEqual([`write ${disk}`, `write ${vm}`].sort());
    await store.sync(domain, 'h');
    expect(hub.take()).toEqual([`write ${disk}`, `write ${vm}`].sort());

    // The VM and its disk go: their files go too, once.
    await t.db.deleteFrom('vms').where('id', '=', vmId).execute();
    await t.db.deleteFrom('disks').where('id', '=', diskId).execute();
    expect((await store.sync(domain, 'h')).deleted.sort()).toEqual([disk, vm].sort());
    expect(hub.take()).toEqual([`delete ${disk}`, `delete ${vm}`].sort());
    await store.sync(domain, 'h');
    expect(hub.take()).toEqual([]);
  });
});
