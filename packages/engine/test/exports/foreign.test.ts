import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../src/services/actor';
import { createExportFixture, type ExportFixture, type Json } from './support';

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
  let members: string[];
  let f: ExportFixture;
  beforeAll(async () => {
    f = await createExportFixture('foreign');
  });
  afterAll(async () => {
    await f?.t.close();
  });
  beforeEach(() => {
    f.hub.calls.length = 0;
    members = ['app01.ovf', 'app01-disk1.vmdk', 'app01-disk2.vmdk', 'app01.mf'];
    f.hub.handlers.set('storage.file_list', () => ({ entries: [] }));
    f.hub.handlers.set('export.ova_list', () => ({ names: ['app01'] }));
    f.hub.handlers.set('export.ova_read', () => ({
      name: 'app01',
      ovf: VMWARE_OVF,
      members: members.map((name) => ({ name, size_bytes: 1 })),
      size_bytes: 4,
      modified_at: '2026-11-24T00:00:00.000Z',
    }));
    f.hub.handlers.set('export.ova_extract', () => ({ volumes: [] }));
    f.hub.handlers.set('volume.delete', () => ({ deleted: true }));
  });

  it('lists the OVA as foreign with its warnings and source formats', async () => {
    const list = await f.service.list(f.expId);
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
    f.hub.handlers.set('export.ova_list', () => ({ names: [], refused: ['Debian Web.ova'] }));
    const list = await f.service.list(f.expId);
    expect(list.items).toEqual([]);
    expect(list.invalid).toEqual([
      { path: 'ova/Debian Web.ova', reason: expect.stringContaining('rename it') },
    ]);
  });

  it('an OVA lacking an image its OVF names is listed as invalid', async () => {
    members = ['app01.ovf', 'app01-disk1.vmdk'];
    const list = await f.service.list(f.expId);
    expect(list.items).toEqual([]);
    expect(list.invalid).toEqual([
      { path: 'ova/app01.ova', reason: expect.stringContaining('app01-disk2.vmdk') },
    ]);
  });

  it('imports: members by file and format, new MACs on the named bridge, warnings in the result', async () => {
    const [entry] = (await f.service.list(f.expId)).items;
    const out = await f.service.importExport(SYSTEM_ACTOR, f.expId, entry?.id as string, {
      cluster_id: f.clusterId,
      storage_domain_id: f.dataId,
      bridge: 'br-move',
    });
    const op = await f.done(out.operationId);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect(op.result.warnings).toEqual(entry?.warnings);
    const extract = f.hub.calls.find((c) => c.method === 'export.ova_extract')?.params as Json;
    expect(extract.name).toBe('app01');
    expect(extract.disks.map((d: Json) => [d.member, d.max_virtual_size, d.to.format])).toEqual([
      [{ file: 'app01-disk1.vmdk', format: 'vmdk' }, 40 * 1024 ** 3, 'qcow2'],
      [{ file: 'app01-disk2.vmdk', format: 'vmdk' }, 512 * 1024 ** 2, 'qcow2'],
    ]);
    const vm = await f.t.t.db
      .selectFrom('vms')
      .selectAll()
      .where('id', '=', out.id)
      .executeTakeFirstOrThrow();
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
    const events = await f.t.t.db
      .selectFrom('events')
      .select(['kind', 'details'])
      .where('kind', '=', 'vm.imported')
      .execute();
    expect(events.map((e) => (e.details as Json).warnings)).toEqual([entry?.warnings]);

    // The same export again: its derived ids are taken now, new_ids imports a second copy.
    const again = await f.service
      .importExport(SYSTEM_ACTOR, f.expId, entry?.id as string, {
        cluster_id: f.clusterId,
        storage_domain_id: f.dataId,
        on_clash: 'rename',
      })
      .catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'id_in_use' });
    const copy = await f.service.importExport(SYSTEM_ACTOR, f.expId, entry?.id as string, {
      cluster_id: f.clusterId,
      storage_domain_id: f.dataId,
      on_clash: 'rename',
      new_ids: true,
    });
    expect(copy.name).toBe('app01-1');
    expect((await f.done(copy.operationId)).state).toBe('succeeded');
  });
});
