import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerDiskOperations } from '../../src/controllers/disk-operations';
import { registerTemplateOperations } from '../../src/controllers/template-operations';
import { insertDataDomain, insertUpHost } from '../disks/support';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeAgentError, FakeHub } from '../vms/fake-hub';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;
const GiB = 1024 ** 3;

/**
 * Templates through the HTTP API on a real database with the real operations runner; the agent
 * side is a recorded fake hub.
 */
describe('templates over HTTP', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let clusterId: string;
  let hostA: string;
  let domA: string;

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
    hostA = await insertUpHost(t.t.db, { name: 'tpl-a', clusterId });
    domA = await insertDataDomain(t.t.db, { name: 'tpl-data', path: '/srv/tpl', hostId: hostA });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    hub.calls.length = 0;
    hub.handlers.clear();
    hub.connected.clear();
    hub.connected.add(hostA);
    hub.handlers.set('volume.create', () => ({}));
    hub.handlers.set('volume.copy', () => ({}));
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
  });

  function req(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers = {}) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...t.auth(), ...headers },
      ...(payload ? { payload } : {}),
    });
  }
  async function done(operationId: string): Promise<Json> {
    return (await req('GET', `/operations/${operationId}?wait=10`)).json();
  }
  /** A VM with two disks whose volumes are on storage (as after a first start). */
  async function vmWithDisks(name: string): Promise<Json> {
    const res = await req('POST', '/vms', {
      name,
      cluster_id: clusterId,
      cpus: 2,
      memory_mib: 256,
      boot_order: ['disk'],
      disks: [{ size_gib: 1, bootable: true }, { size_gib: 2 }],
    });
    expect(res.statusCode, res.body).toBe(201);
    const vm = res.json();
    await sql`UPDATE volumes SET on_storage = true
              WHERE disk_id IN (SELECT disk_id FROM vm_disk_attachments WHERE vm_id = ${vm.id})`.execute(
      t.t.db,
    );
    return vm;
  }
  async function sourceDisks(vmId: string): Promise<{ id: string; volume_id: string }[]> {
    const { rows } = await sql<{ id: string; volume_id: string }>`
      SELECT a.disk_id AS id, v.id AS volume_id FROM vm_disk_attachments a
      JOIN volumes v ON v.disk_id = a.disk_id AND v.active
      WHERE a.vm_id = ${vmId} ORDER BY a.position`.execute(t.t.db);
    return rows;
  }

  it('creates a template from a stopped VM: locked, then ok with one flattened copy per disk', async () => {
    const vm = await vmWithDisks('tpl-src');
    const src = await sourceDisks(vm.id);
    const res = await req('POST', '/templates', { vm_id: vm.id, name: 'base-1', description: 'first' });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.headers.location).toBe(`/api/v1/operations/${res.json().operation.id}`);
    const created = res.json().template;
    expect(created).toMatchObject({
      name: 'base-1',
      description: 'first',
      state: 'locked',
      cpus: 2,
      memory_mib: 256,
      cluster_id: clusterId,
      created_from_vm_id: vm.id,
      boot_order: ['disk'],
    });
    expect(created.disks.map((d: Json) => [d.position, d.size_bytes, d.bootable])).toEqual([
      [0, GiB, true],
      [1, 2 * GiB, false],
    ]);
    const op = await done(res.json().operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    const got = await req('GET', `/templates/${created.id}`);
    expect(got.json().state).toBe('ok');
    expect(got.headers.etag).toBeDefined();
    const copies = hub.calls.filter((c) => c.method === 'volume.copy');
    expect(copies.map((c) => c.params)).toEqual(
      created.disks.map((d: Json, i: number) =>
        expect.objectContaining({
          from: { domain_id: domA, disk_id: src[i]?.id, volume_id: src[i]?.volume_id, format: 'qcow2' },
          to: { domain_id: domA, disk_id: d.disk_id, volume_id: d.volume_id, format: 'qcow2' },
        }),
      ),
    );
    expect(copies.every((c) => c.hostId === hostA)).toBe(true);
    // The source disks are usable again.
    const { rows } = await sql<{ state: string }>`
      SELECT state FROM disks WHERE id IN (${sql.join(src.map((s) => s.id))})`.execute(t.t.db);
    expect(rows.map((r) => r.state)).toEqual(['ok', 'ok']);
    const list = (await req('GET', '/templates')).json();
    expect(list.items.map((i: Json) => i.name)).toContain('base-1');
  });

  it('seal: true seals each copied disk after its copy and lists what was reset', async () => {
    hub.handlers.set('volume.seal', () => ({
      changed: ['machine-id', 'hostname'],
      root_device: 'vda1',
      duration_ms: 5,
    }));
    const vm = await vmWithDisks('tpl-seal');
    const res = await req('POST', '/templates', { vm_id: vm.id, name: 'sealed', seal: true });
    expect(res.statusCode, res.body).toBe(202);
    const op = await done(res.json().operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    const disks = res.json().template.disks as Json[];
    expect(op.result.sealed).toEqual(
      disks.map((d) => ({ disk_id: d.disk_id, changed: ['machine-id', 'hostname'] })),
    );
    // Each seal follows its own disk's copy, on the copied volume.
    expect(hub.calls.map((c) => c.method).filter((m) => m === 'volume.copy' || m === 'volume.seal')).toEqual([
      'volume.copy',
      'volume.seal',
      'volume.copy',
      'volume.seal',
    ]);
    expect(hub.calls.filter((c) => c.method === 'volume.seal').map((c) => c.params)).toEqual(
      disks.map((d) => ({ domain_id: domA, disk_id: d.disk_id, volume_id: d.volume_id, format: 'qcow2' })),
    );
    expect((await req('GET', `/templates/${res.json().template.id}`)).json().state).toBe('ok');
  });

  it('a failed seal leaves the template illegal and the source disks ok', async () => {
    hub.handlers.set('volume.seal', () => {
      throw new FakeAgentError('seal_failed');
    });
    const vm = await vmWithDisks('tpl-seal-fail');
    const res = await req('POST', '/templates', { vm_id: vm.id, name: 'seal-broken', seal: true });
    const op = await done(res.json().operation.id);
    expect(op.state).toBe('failed');
    expect((await req('GET', `/templates/${res.json().template.id}`)).json().state).toBe('illegal');
    const { rows } = await sql<{ state: string }>`
      SELECT d.state FROM disks d JOIN vm_disk_attachments a ON a.disk_id = d.id
      WHERE a.vm_id = ${vm.id}`.execute(t.t.db);
    expect(rows.map((r) => r.state)).toEqual(['ok', 'ok']);
  });

  it('seal: true is refused up front when the only host seeing the domain reports no seal appliance', async () => {
    const noAppliance = { storage: { seal: { available: false, reason: 'no kernel in /x' } } };
    await sql`UPDATE hosts SET capabilities = ${JSON.stringify(noAppliance)}::jsonb WHERE id = ${hostA}`.execute(
      t.t.db,
    );
    try {
      const vm = await vmWithDisks('tpl-seal-none');
      const before = (await req('GET', '/templates')).json().items.length;
      const res = await req('POST', '/templates', { vm_id: vm.id, name: 'never-sealed', seal: true });
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().error.code).toBe('seal_unavailable');
      expect(res.json().error.message).toContain('no kernel in /x');
      expect(res.json().error.details.hosts).toEqual([
        { host_id: hostA, host: 'tpl-a', reason: 'no kernel in /x' },
      ]);
      // Nothing made, nothing copied, the source disks stay usable.
      expect((await req('GET', '/templates')).json().items.length).toBe(before);
      expect(hub.calls.filter((c) => c.method === 'volume.copy')).toEqual([]);
      const { rows } = await sql<{ state: string }>`
        SELECT d.state FROM disks d JOIN vm_disk_attachments a ON a.disk_id = d.id
        WHERE a.vm_id = ${vm.id}`.execute(t.t.db);
      expect(rows.map((r) => r.state)).toEqual(['ok', 'ok']);
      // Without seal the same VM still makes a template.
      const plain = await req('POST', '/templates', { vm_id: vm.id, name: 'not-sealed' });
      expect(plain.statusCode, plain.body).toBe(202);
      expect((await done(plain.json().operation.id)).state).toBe('succeeded');
    } finally {
      await sql`UPDATE hosts SET capabilities = NULL WHERE id = ${hostA}`.execute(t.t.db);
    }
  });

  it('refuses a running VM, an unknown VM and a taken name with their codes', async () => {
    const vm = await vmWithDisks('tpl-refuse');
    const unknown = await req('POST', '/templates', {
      vm_id: '00000000-0000-4000-8000-000000000000',
      name: 'nope',
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('vm_not_found');
    const first = await req('POST', '/templates', { vm_id: vm.id, name: 'dup' });
    expect(first.statusCode, first.body).toBe(202);
    expect((await done(first.json().operation.id)).state).toBe('succeeded');
    const dup = await req('POST', '/templates', { vm_id: vm.id, name: 'DUP' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('template_name_taken');
    await sql`UPDATE vms SET state = 'up', desired_state = 'up' WHERE id = ${vm.id}`.execute(t.t.db);
    const running = await req('POST', '/templates', { vm_id: vm.id, name: 'live' });
    expect(running.statusCode).toBe(409);
    expect(running.json().error.code).toBe('vm_not_down');
    await sql`UPDATE vms SET state = 'down', desired_state = 'down' WHERE id = ${vm.id}`.execute(t.t.db);
    const bad = await req('POST', '/templates', { vm_id: vm.id, name: 'has space' });
    expect(bad.statusCode).toBe(400);
  });

  it('a failed copy leaves the template illegal and the source disks ok', async () => {
    hub.handlers.set('volume.copy', () => {
      throw new FakeAgentError('qemu_failed');
    });
    const vm = await vmWithDisks('tpl-fail');
    const res = await req('POST', '/templates', { vm_id: vm.id, name: 'broken' });
    const op = await done(res.json().operation.id);
    expect(op.state).toBe('failed');
    expect((await req('GET', `/templates/${res.json().template.id}`)).json().state).toBe('illegal');
    const { rows } = await sql<{ state: string }>`
      SELECT d.state FROM disks d JOIN vm_disk_attachments a ON a.disk_id = d.id
      WHERE a.vm_id = ${vm.id}`.execute(t.t.db);
    expect(rows.map((r) => r.state)).toEqual(['ok', 'ok']);
  });

  it('PATCH renames with If-Match; DELETE is refused naming thin clones, then removes disks on storage', async () => {
    const vm = await vmWithDisks('tpl-del');
    const res = await req('POST', '/templates', { vm_id: vm.id, name: 'to-delete' });
    expect((await done(res.json().operation.id)).state).toBe('succeeded');
    const id = res.json().template.id;
    const got = await req('GET', `/templates/${id}`);
    const noMatch = await req('PATCH', `/templates/${id}`, { name: 'x' });
    expect(noMatch.statusCode).toBe(428);
    const stale = await req('PATCH', `/templates/${id}`, { name: 'x' }, { 'if-match': '"999"' });
    expect(stale.statusCode).toBe(412);
    const renamed = await req(
      'PATCH',
      `/templates/${id}`,
      { name: 'renamed', description: 'new' },
      { 'if-match': got.headers.etag as string },
    );
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'renamed', description: 'new' });

    // A thin clone (overlays on the template volumes) and a full clone (independent copies).
    hub.calls.length = 0;
    const thin = await req('POST', `/templates/${id}/vms`, { name: 'thin-clone-1' });
    expect(thin.statusCode, thin.body).toBe(202);
    expect(thin.json().vm).toMatchObject({ name: 'thin-clone-1', cpus: 2, memory_mib: 256 });
    expect((await done(thin.json().operation.id)).state).toBe('succeeded');
    const full = await req('POST', `/templates/${id}/vms`, { name: 'full-clone-1', clone: 'full' });
    expect(full.statusCode, full.body).toBe(202);
    expect((await done(full.json().operation.id)).state).toBe('succeeded');
    const tdisks = renamed.json().disks as Json[];
    const creates = hub.calls.filter((c) => c.method === 'volume.create').map((c) => c.params);
    expect(creates).toEqual(
      tdisks.map((d) =>
        expect.objectContaining({
          domain_id: domA,
          format: 'qcow2',
          backing: { disk_id: d.disk_id, volume_id: d.volume_id, format: 'qcow2' },
        }),
      ),
    );
    expect(creates.every((c) => c.size_bytes === undefined)).toBe(true);
    const copies = hub.calls.filter((c) => c.method === 'volume.copy').map((c) => c.params);
    expect(copies.map((c) => (c.from as Json).volume_id)).toEqual(tdisks.map((d) => d.volume_id));
    for (const vm of [thin.json().vm, full.json().vm]) {
      const { rows: states } = await sql<{ state: string; on_storage: boolean; name: string }>`
        SELECT d.state, v.on_storage, d.name FROM vm_disk_attachments a JOIN disks d ON d.id = a.disk_id
        JOIN volumes v ON v.disk_id = d.id WHERE a.vm_id = ${vm.id} ORDER BY a.position`.execute(t.t.db);
      // Named after the new VM, not the template's disks: a disk name stays unambiguous.
      expect(states).toEqual([
        { state: 'ok', on_storage: true, name: `${vm.name}_Disk1` },
        { state: 'ok', on_storage: true, name: `${vm.name}_Disk2` },
      ]);
    }
    const clone = thin.json().vm;
    const base = tdisks[0]?.volume_id as string;
    const taken = await req('POST', `/templates/${id}/vms`, { name: 'thin-clone-1' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.code).toBe('vm_name_taken');

    // The base disks are not for direct use: no attaching (a VM would write them), no deleting.
    const attach = await req('POST', `/vms/${clone.id}/disk-attachments`, { disk_id: tdisks[1]?.disk_id });
    expect(attach.statusCode).toBe(409);
    expect(attach.json().error).toMatchObject({ code: 'disk_in_use', details: { template_id: id } });
    const move = await req('POST', `/disks/${tdisks[0]?.disk_id}/move`, { storage_domain_id: domA });
    expect(move.statusCode).toBe(409);
    expect(move.json().error.code).toBe('disk_in_use');
    const delDisk = await req('DELETE', `/disks/${tdisks[0]?.disk_id}`);
    expect(delDisk.statusCode).toBe(409);
    expect(delDisk.json().error.code).toBe('disk_in_use');
    const refused = await req('DELETE', `/templates/${id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({
      code: 'template_in_use',
      details: { vms: [{ id: clone.id, name: 'thin-clone-1' }] },
    });
    expect(refused.json().error.message).toContain('thin-clone-1');
    expect(base).toBeDefined();

    // Once the thin clone is gone (its disks with it) the template may go; the full clone stays.
    await sql`DELETE FROM disks WHERE id IN (SELECT disk_id FROM vm_disk_attachments WHERE vm_id = ${clone.id})`.execute(
      t.t.db,
    );
    await sql`DELETE FROM vms WHERE id = ${clone.id}`.execute(t.t.db);
    hub.calls.length = 0;
    const del = await req('DELETE', `/templates/${id}`);
    expect(del.statusCode, del.body).toBe(202);
    const op = await done(del.json().operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect((await req('GET', `/templates/${id}`)).statusCode).toBe(404);
    expect(hub.calls.filter((c) => c.method === 'volume.delete').map((c) => c.params.disk_id)).toEqual(
      renamed.json().disks.map((d: Json) => d.disk_id),
    );
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM disks
      WHERE id IN (${sql.join(renamed.json().disks.map((d: Json) => d.disk_id))})`.execute(t.t.db);
    expect(rows[0]?.n).toBe(0);
  });
});
