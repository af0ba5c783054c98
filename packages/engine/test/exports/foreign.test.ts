import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerExportOperations } from '../../src/controllers/export-operations';
import { SYSTEM_ACTOR } from '../../src/services/actor';
import { createExportService, type ExportService } from '../../src/services/exports';
import { insertDataDomain, insertUpHost } from '../disks/support';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeHub } from '../vms/fake-hub';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

/** The VMware-style OVF of the parser's golden tests: two streamOptimized VMDKs, a vmxnet3 NIC. */
const VMWARE_OVF = readFileSync(
  join(import.meta.dirname, '../../src/domain/ovf/testdata/foreign-vmware.ovf'),
  'utf8',
);

/**
 * Foreign OVAs through the export service and the import operation, on a real database with the
 * real operations runner; the agent is a recorded fake hub (the e2e test runs the real one).
 */
describe('foreign OVA listing and import (fake agents)', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let service: ExportService;
  let clusterId: string;
  let dataId: string;
  let expId: string;
  let members: string[];

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createOpsApp({
      register: (ops, ctx) => registerExportOperations(ops.registry, { ...ctx, hub: hub.asHub() }),
    });
    service = createExportService({
      db: t.t.db,
      hub: hub.asHub(),
      audit: t.events.audit,
      operations: t.operations,
      log: (await import('pino')).default({ level: 'silent' }),
    });
    clusterId = (
      await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
    ).id;
    const host = await insertUpHost(t.t.db, { name: 'foreign-a', clusterId });
    dataId = await insertDataDomain(t.t.db, { name: 'foreign-data', path: '/srv/fd', hostId: host });
    expId = await insertDataDomain(t.t.db, {
      name: 'foreign-exp',
      path: '/srv/fe',
      hostId: host,
      kind: 'export',
    });
    hub.connected.add(host);
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    hub.calls.length = 0;
    members = ['app01.ovf', 'app01-disk1.vmdk', 'app01-disk2.vmdk', 'app01.mf'];
    hub.handlers.set('storage.file_list', () => ({ entries: [] }));
    hub.handlers.set('export.ova_list', () => ({ names: ['app01'] }));
    hub.handlers.set('export.ova_read', () => ({
      name: 'app01',
      ovf: VMWARE_OVF,
      members: members.map((name) => ({ name, size_bytes: 1 })),
      size_bytes: 4,
      modified_at: '2026-11-24T00:00:00.000Z',
    }));
    hub.handlers.set('export.ova_extract', () => ({ volumes: [] }));
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
  });

  const done = async (id: string): Promise<Json> =>
    (
      await t.app.inject({ method: 'GET', url: `/api/v1/operations/${id}?wait=10`, headers: t.auth() })
    ).json();

  it('lists the OVA as foreign with its warnings and source formats', async () => {
    const list = await service.list(expId);
    expect(list.invalid).toEqual([]);
    expect(list.items).toEqual([
      expect.objectContaining({
        kind: 'vm',
        name: 'app01',
        format: 'ova',
        ova_name: 'app01',
        origin: 'foreign',
        cpus: 4,
        memory_mib: 8192,
        nic_count: 1,
      }),
    ]);
    const [entry] = list.items as Json[];
    expect(entry?.disks.map((d: Json) => [d.format, d.interface, d.bootable])).toEqual([
      ['vmdk', 'scsi', true],
      ['vmdk', 'scsi', false],
    ]);
    expect(entry?.warnings).toEqual(
      expect.arrayContaining(['app01.mf not verified', expect.stringContaining('VmxNet3')]),
    );
  });

  it('an OVA file whose name the agent refused is listed as invalid, with what to do', async () => {
    hub.handlers.set('export.ova_list', () => ({ names: [], refused: ['Debian Web.ova'] }));
    const list = await service.list(expId);
    expect(list.items).toEqual([]);
    expect(list.invalid).toEqual([
      { path: 'ova/Debian Web.ova', reason: expect.stringContaining('rename it') },
    ]);
  });

  it('an OVA lacking an image its OVF names is listed as invalid', async () => {
    members = ['app01.ovf', 'app01-disk1.vmdk'];
    const list = await service.list(expId);
    expect(list.items).toEqual([]);
    expect(list.invalid).toEqual([
      { path: 'ova/app01.ova', reason: expect.stringContaining('app01-disk2.vmdk') },
    ]);
  });

  it('imports: members by file and format, new MACs on the named bridge, warnings in the result', async () => {
    const [entry] = (await service.list(expId)).items;
    const out = await service.importExport(SYSTEM_ACTOR, expId, entry?.id as string, {
      cluster_id: clusterId,
      storage_domain_id: dataId,
      bridge: 'br-move',
    });
    const op = await done(out.operationId);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect(op.result.warnings).toEqual(entry?.warnings);
    const extract = hub.calls.find((c) => c.method === 'export.ova_extract')?.params as Json;
    expect(extract.name).toBe('app01');
    expect(extract.disks.map((d: Json) => [d.member, d.max_virtual_size, d.to.format])).toEqual([
      [{ file: 'app01-disk1.vmdk', format: 'vmdk' }, 40 * 1024 ** 3, 'qcow2'],
      [{ file: 'app01-disk2.vmdk', format: 'vmdk' }, 512 * 1024 ** 2, 'qcow2'],
    ]);
    const vm = await t.t.db.selectFrom('vms').selectAll().where('id', '=', out.id).executeTakeFirstOrThrow();
    expect(vm).toMatchObject({
      name: 'app01',
      cpus: 4,
      memory_mib: 8192,
      os_type: 'rhel',
      console_type: 'vnc',
    });
    const nics = vm.nics as Json[];
    expect(nics).toEqual([{ type: 'bridge', bridge: 'br-move', mac: expect.any(String), model: 'e1000' }]);
    expect(nics[0]?.mac).not.toBe('52:54:00:00:00:00');
    const events = await t.t.db
      .selectFrom('events')
      .select(['kind', 'details'])
      .where('kind', '=', 'vm.imported')
      .execute();
    expect(events.map((e) => (e.details as Json).warnings)).toEqual([entry?.warnings]);

    // The same export again: its derived ids are taken now, new_ids imports a second copy.
    const again = await service
      .importExport(SYSTEM_ACTOR, expId, entry?.id as string, {
        cluster_id: clusterId,
        storage_domain_id: dataId,
        on_clash: 'rename',
      })
      .catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'id_in_use' });
    const copy = await service.importExport(SYSTEM_ACTOR, expId, entry?.id as string, {
      cluster_id: clusterId,
      storage_domain_id: dataId,
      on_clash: 'rename',
      new_ids: true,
    });
    expect(copy.name).toBe('app01-1');
    expect((await done(copy.operationId)).state).toBe('succeeded');
  });
});
