import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeOvf } from '../../src/domain/ovf';
import { SYSTEM_ACTOR } from '../../src/services/actor';
import { FakeAgentError } from '../vms/fake-hub';
import { createExportFixture, type ExportFixture, type Json } from './support';

const GiB = 1024 ** 3;

const EXPORTED = {
  id: '6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b',
  disk: '11111111-2222-4333-8444-555555555555',
  volume: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
};

function exportedOvf(name: string): string {
  return writeOvf(
    {
      kind: 'vm',
      id: EXPORTED.id,
      name,
      description: '',
      cpus: 2,
      memory_mib: 256,
      os_type: 'debian',
      boot_order: ['disk'],
      console: 'vnc',
      cdrom: null,
      template: null,
      created_at: null,
    },
    [
      {
        disk_id: EXPORTED.disk,
        volume_id: EXPORTED.volume,
        name: 'root',
        description: '',
        size_bytes: GiB,
        format: 'qcow2',
        interface: 'virtio',
        bootable: true,
        position: 0,
        file_bytes: null,
      },
    ],
    [{ type: 'user', mac: '56:6f:00:00:00:09', model: 'virtio' }],
  );
}

/**
 * The export service and its operations on a real database with the real operations runner; the
 * agent side is a recorded fake hub. What the e2e test cannot easily force: the exact agent calls,
 * the revert of a failed import, the refusals before any storage work.
 */
describe('export service and operations (fake agents)', () => {
  let f: ExportFixture;
  beforeAll(async () => {
    f = await createExportFixture('exp');
  });
  afterAll(async () => {
    await f?.t.close();
  });

  /** The fake agent answers every read of the export domain with this file content. */
  const serveExportFile = (content: string) =>
    f.hub.handlers.set('storage.file_read', () => ({ path: 'x', content, size_bytes: 1 }));
  beforeEach(() => {
    f.hub.calls.length = 0;
    f.hub.handlers.clear();
    f.hub.connected.clear();
    f.hub.connected.add(f.hostId);
    f.hub.handlers.set('storage.file_list', () => ({
      entries: [
        {
          path: `vms/${EXPORTED.id}/${EXPORTED.id}.ovf`,
          kind: 'file',
          size_bytes: 1,
          modified_at: '2026-11-24T00:00:00.000Z',
        },
      ],
    }));
    serveExportFile(exportedOvf('imp-vm'));
    f.hub.handlers.set('export.ova_list', () => ({ names: [] }));
    f.hub.handlers.set('export.check_volume', () => ({ virtual_size: GiB, actual_size: 1 }));
    f.hub.handlers.set('volume.copy', () => ({}));
    f.hub.handlers.set('volume.delete', () => ({ deleted: true }));
    f.hub.handlers.set('storage.capacity', () => ({ total_bytes: 100 * GiB, free_bytes: 50 * GiB }));
  });

  const importBody = (extra: Json = {}) => ({
    cluster_id: f.clusterId,
    storage_domain_id: f.dataId,
    ...extra,
  });
  /** Imports the planted export {@link EXPORTED} from the export domain into the data domain. */
  const importExported = (extra: Json = {}) =>
    f.service.importExport(SYSTEM_ACTOR, f.expId, EXPORTED.id, importBody(extra));
  const vmRow = (id: string) =>
    f.t.t.db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst();
  const diskRow = (id: string) =>
    f.t.t.db.selectFrom('disks').selectAll().where('id', '=', id).executeTakeFirst();

  it('imports under the exported ids: the image is checked, then copied; the disk ends ok', async () => {
    const out = await importExported();
    expect(out).toMatchObject({ kind: 'vm', id: EXPORTED.id, name: 'imp-vm' });
    const op = await f.done(out.operationId);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    // The gate runs on the exported image before the copy reads it.
    const methods = f.hub.methods().filter((m) => m === 'export.check_volume' || m === 'volume.copy');
    expect(methods).toEqual(['export.check_volume', 'volume.copy']);
    const copy = f.hub.calls.find((c) => c.method === 'volume.copy')?.params as Json;
    expect(copy.from).toMatchObject({
      domain_id: f.expId,
      disk_id: EXPORTED.disk,
      volume_id: EXPORTED.volume,
    });
    expect(copy.to).toMatchObject({
      domain_id: f.dataId,
      disk_id: EXPORTED.disk,
      volume_id: EXPORTED.volume,
    });
    expect((await diskRow(EXPORTED.disk))?.state).toBe('ok');
    expect((await vmRow(EXPORTED.id))?.nics).toEqual([
      { type: 'user', mac: '56:6f:00:00:00:09', model: 'virtio' },
    ]);
  });

  it('a clash: name first (409 name_in_use), then ids (409 id_in_use), then rename with new ids', async () => {
    await expect(importExported()).rejects.toMatchObject({
      code: 'name_in_use',
      status: 409,
    });
    await expect(importExported({ on_clash: 'rename' })).rejects.toMatchObject({ code: 'id_in_use' });
    const out = await importExported({ on_clash: 'rename', new_ids: true });
    expect(out.name).toBe('imp-vm-1');
    expect(out.id).not.toBe(EXPORTED.id);
    expect((await f.done(out.operationId)).state).toBe('succeeded');
    const row = await vmRow(out.id);
    expect(row).toBeDefined();
    expect(((row?.nics ?? []) as Json[])[0]?.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(((row?.nics ?? []) as Json[])[0]?.mac).not.toBe('56:6f:00:00:00:09');
    const again = await importExported({ on_clash: 'rename', new_ids: true });
    expect(again.name).toBe('imp-vm-2');
    await f.done(again.operationId);
  });

  it('two concurrent imports of one export: one wins, the other is a 409, never a 500', async () => {
    serveExportFile(exportedOvf('racer'));
    await sql`DELETE FROM vms WHERE id = ${EXPORTED.id}`.execute(f.t.t.db);
    await sql`DELETE FROM disks WHERE id = ${EXPORTED.disk}`.execute(f.t.t.db);
    const results = await Promise.allSettled([importExported(), importExported()]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toMatchObject({ status: 409 });
    const reason = lost[0]?.reason as { code?: string } | undefined;
    expect(['name_in_use', 'id_in_use']).toContain(reason?.code);
    await f.done((won[0] as PromiseFulfilledResult<{ operationId: string }>).value.operationId);
  });

  it('a failed copy reverts everything: no VM row, no disk row, the partial volume deleted', async () => {
    serveExportFile(exportedOvf('doomed'));
    f.hub.handlers.set('volume.copy', () => {
      throw new FakeAgentError('qemu_failed');
    });
    const out = await importExported({ new_ids: true });
    const op = await f.done(out.operationId);
    expect(op.state).toBe('failed');
    expect(await vmRow(out.id)).toBeUndefined();
    const disks = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM disks d WHERE NOT EXISTS (SELECT 1 FROM vm_disk_attachments a WHERE a.disk_id = d.id)`.execute(
      f.t.t.db,
    );
    expect(disks.rows[0]?.n).toBe(0);
    const deletes = f.hub.calls.filter((c) => c.method === 'volume.delete').map((c) => c.params.domain_id);
    expect(deletes).toContain(f.dataId);
  });

  it('a hostile image refused by the gate is never copied', async () => {
    serveExportFile(exportedOvf('hostile'));
    f.hub.handlers.set('export.check_volume', () => {
      throw new FakeAgentError('image_has_backing_file');
    });
    const out = await importExported({ new_ids: true });
    expect((await f.done(out.operationId)).state).toBe('failed');
    expect(f.hub.methods()).not.toContain('volume.copy');
    expect(await vmRow(out.id)).toBeUndefined();
  });

  it('an import whose images do not fit in the target domain fails before copying and leaves nothing', async () => {
    serveExportFile(exportedOvf('too-big'));
    f.hub.handlers.set('export.check_volume', () => ({ virtual_size: GiB, actual_size: GiB }));
    f.hub.handlers.set('storage.capacity', () => ({ total_bytes: GiB, free_bytes: GiB / 2 }));
    const out = await importExported({ new_ids: true });
    const op = await f.done(out.operationId);
    expect(op.state).toBe('failed');
    expect(op.error.code).toBe('image_too_large');
    expect(f.hub.methods()).not.toContain('volume.copy');
    expect(await vmRow(out.id)).toBeUndefined();
  });

  it('refuses before any storage work: wrong domain kinds, VM not down, unknown export, invalid OVF', async () => {
    await expect(
      f.service.importExport(SYSTEM_ACTOR, f.dataId, EXPORTED.id, importBody()),
    ).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(importExported({ storage_domain_id: f.expId })).rejects.toMatchObject({
      code: 'invalid_input',
    });
    await expect(
      f.service.importExport(SYSTEM_ACTOR, f.expId, '00000000-0000-4000-8000-000000000000', importBody()),
    ).rejects.toMatchObject({ code: 'export_not_found', status: 404 });
    serveExportFile('<!DOCTYPE x []><x/>');
    const listed = await f.service.list(f.expId);
    expect(listed.items).toEqual([]);
    expect(listed.invalid[0]?.reason).toMatch(/DOCTYPE/);

    await sql`UPDATE vms SET state = 'up', desired_state = 'up' WHERE id = ${EXPORTED.id}`.execute(f.t.t.db);
    await expect(
      f.service.exportVm(SYSTEM_ACTOR, EXPORTED.id, { storage_domain_id: f.expId }),
    ).rejects.toMatchObject({
      code: 'vm_not_down',
    });
    await sql`UPDATE vms SET state = 'down', desired_state = 'down' WHERE id = ${EXPORTED.id}`.execute(
      f.t.t.db,
    );
    await expect(
      f.service.exportVm(SYSTEM_ACTOR, EXPORTED.id, { storage_domain_id: f.dataId }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
    });
    expect(f.hub.methods().filter((m) => m.startsWith('volume.'))).toEqual([]);
  });

  it('exports as OVF: images copied first, the OVF written last, disks unlocked; again is export_exists', async () => {
    f.hub.handlers.set('storage.file_read', () => {
      throw new FakeAgentError('file_not_found');
    });
    f.hub.handlers.set('storage.file_write', (_h, p) => ({ path: p.path, size_bytes: 1 }));
    const { operationId } = await f.service.exportVm(SYSTEM_ACTOR, EXPORTED.id, {
      storage_domain_id: f.expId,
    });
    const op = await f.done(operationId);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect(op.result).toMatchObject({ format: 'ovf', path: `master/vms/${EXPORTED.id}/${EXPORTED.id}.ovf` });
    const storageCalls = f.hub.methods().filter((m) => m === 'volume.copy' || m === 'storage.file_write');
    expect(storageCalls).toEqual(['volume.copy', 'storage.file_write']);
    const written = f.hub.calls.find((c) => c.method === 'storage.file_write')?.params.content as string;
    expect(written).toContain(`vireo:id="${EXPORTED.id}"`);
    expect((await diskRow(EXPORTED.disk))?.state).toBe('ok');

    serveExportFile(written);
    const second = await f.service.exportVm(SYSTEM_ACTOR, EXPORTED.id, { storage_domain_id: f.expId });
    const failed = await f.done(second.operationId);
    expect(failed.state).toBe('failed');
    expect(failed.error.code).toBe('export_exists');
    expect(
      (await f.t.t.db.selectFrom('disks').selectAll().where('id', '=', EXPORTED.disk).executeTakeFirst())
        ?.state,
    ).toBe('ok');
  });
});
