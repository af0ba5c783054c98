import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDiskOperations } from '../../src/controllers/disk-operations';
import { registerTemplateOperations } from '../../src/controllers/template-operations';
import { parseOvf } from '../../src/domain/ovf';
import { domainFilesOf } from '../../src/domain/storage/ovf-store';
import { insertDataDomain, insertUpHost } from '../disks/support';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeHub } from '../vms/fake-hub';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

/**
 * Templates keep the console type (migration 0019): a template made from a headless (serial) VM is
 * serial, VMs made from it inherit that unless the request names a console, and the template's OVF
 * carries it. Real database and operations runner; the agent is a recorded fake hub.
 */
describe('template console type', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let clusterId: string;

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createOpsApp({
      register: (ops, ctx) => {
        const deps = { ...ctx, hub: hub.asHub() };
        registerDiskOperations(ops.registry, deps);
        registerTemplateOperations(ops.registry, deps);
      },
    });
    clusterId = (
      await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
    ).id;
    const host = await insertUpHost(t.t.db, { name: 'tplc-a', clusterId });
    await insertDataDomain(t.t.db, { name: 'tplc-data', path: '/srv/tplc', hostId: host });
    hub.connected.add(host);
    hub.handlers.set('volume.create', () => ({}));
    hub.handlers.set('volume.copy', () => ({}));
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
  });
  afterAll(async () => {
    await t?.close();
  });

  function req(method: 'GET' | 'POST', url: string, payload?: unknown) {
    return t.app.inject({ method, url: `/api/v1${url}`, headers: t.auth(), ...(payload ? { payload } : {}) });
  }
  async function settled(operationId: string): Promise<void> {
    const op = (await req('GET', `/operations/${operationId}?wait=10`)).json();
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
  }
  async function templateOf(name: string, console: 'vnc' | 'serial'): Promise<Json> {
    const vm = await req('POST', '/vms', {
      name: `${name}-src`,
      cluster_id: clusterId,
      memory_mib: 128,
      boot_order: ['disk'],
      console,
      disks: [{ size_gib: 1, bootable: true }],
    });
    expect(vm.statusCode, vm.body).toBe(201);
    expect(vm.json().console).toBe(console);
    await sql`UPDATE volumes SET on_storage = true
              WHERE disk_id IN (SELECT disk_id FROM vm_disk_attachments WHERE vm_id = ${vm.json().id})`.execute(
      t.t.db,
    );
    const res = await req('POST', '/templates', { vm_id: vm.json().id, name });
    expect(res.statusCode, res.body).toBe(202);
    await settled(res.json().operation.id);
    return res.json().template;
  }
  async function vmFrom(templateId: string, body: Json): Promise<Json> {
    const res = await req('POST', `/templates/${templateId}/vms`, body);
    expect(res.statusCode, res.body).toBe(202);
    await settled(res.json().operation.id);
    return (await req('GET', `/vms/${res.json().vm.id}`)).json();
  }

  it('a template made from a serial VM is serial, and so are VMs made from it unless they say', async () => {
    const tpl = await templateOf('tplc-serial', 'serial');
    expect(tpl.console).toBe('serial');
    expect((await req('GET', `/templates/${tpl.id}`)).json().console).toBe('serial');
    expect((await vmFrom(tpl.id, { name: 'tplc-child-1' })).console).toBe('serial');
    expect((await vmFrom(tpl.id, { name: 'tplc-child-2', console: 'vnc', clone: 'full' })).console).toBe(
      'vnc',
    );
  });

  it('a template made from a VNC VM stays vnc, a child may ask for serial', async () => {
    const tpl = await templateOf('tplc-vnc', 'vnc');
    expect(tpl.console).toBe('vnc');
    expect((await vmFrom(tpl.id, { name: 'tplc-child-3' })).console).toBe('vnc');
    expect((await vmFrom(tpl.id, { name: 'tplc-child-4', console: 'serial' })).console).toBe('serial');
    const bad = await req('POST', `/templates/${tpl.id}/vms`, { name: 'tplc-child-5', console: 'spice' });
    expect(bad.statusCode).toBe(400);
  });

  it("the template's OVF (export, domain metadata) carries its console", async () => {
    const { rows } = await sql<Json>`SELECT * FROM templates WHERE name = 'tplc-serial'`.execute(t.t.db);
    const template = rows[0] as Json;
    const { rows: disks } = await sql<Json>`
      SELECT td.template_id, td.disk_id, td.position, td.interface, td.bootable, d.name, d.storage_domain_id,
             d.size_bytes, d.format, v.id AS volume_id, v.format AS volume_format, v.on_storage
      FROM template_disks td JOIN disks d ON d.id = td.disk_id JOIN volumes v ON v.disk_id = d.id AND v.active
      WHERE td.template_id = ${template.id}`.execute(t.t.db);
    const set = domainFilesOf({
      disks: [],
      vms: [],
      // biome-ignore lint/suspicious/noExplicitAny: rows straight from SQL, shaped as the repository's
      templates: [{ template: template as any, disks: disks as any }],
    });
    const file = set.files.find((f) => f.path === `vms/${template.id}.ovf`);
    expect(file, JSON.stringify(set.errors)).toBeDefined();
    expect(parseOvf(file?.text ?? '')).toMatchObject({ kind: 'template', console: 'serial' });
  });
});
