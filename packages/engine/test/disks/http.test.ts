import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerDiskOperations } from '../../src/controllers/disk-operations';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeAgentError, FakeHub } from '../vms/fake-hub';
import { insertDataDomain, insertUpHost } from './support';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;
const GiB = 1024 ** 3;

/**
 * Disks through the HTTP API on a real database with the real operations runner; the agent side is
 * a recorded fake hub (the e2e test drives real agents and QEMU).
 */
describe('disks over HTTP', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let clusterId: string;
  let hostA: string;
  let hostB: string;
  let domA: string;
  let domB: string;

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createOpsApp({
      register: (ops, ctx) => registerDiskOperations(ops.registry, { ...ctx, hub: hub.asHub() }),
    });
    clusterId = (
      await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
    ).id;
    hostA = await insertUpHost(t.t.db, { name: 'disk-a', clusterId });
    hostB = await insertUpHost(t.t.db, { name: 'disk-b', clusterId });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    hub.calls.length = 0;
    hub.handlers.clear();
    hub.connected.clear();
    hub.connected.add(hostA);
    hub.connected.add(hostB);
    hub.handlers.set('volume.create', () => ({}));
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
  async function createDisk(body: Json): Promise<Json> {
    const res = await req('POST', '/disks', body);
    expect(res.statusCode, res.body).toBe(202);
    const op = await done(res.json().operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    return (await req('GET', `/disks/${res.json().disk.id}`)).json();
  }
  async function createVm(name: string, extra: Json = {}): Promise<Json> {
    const res = await req('POST', '/vms', {
      name,
      cluster_id: clusterId,
      boot_order: ['cdrom', 'disk'],
      cdrom: { image: 'boot.iso' },
      ...extra,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  it('without an active data domain, VM disks are refused with no_data_domain', async () => {
    const res = await req('POST', '/vms', {
      name: 'no-domain',
      cluster_id: clusterId,
      boot_order: ['disk'],
      disks: [{ size_gib: 1 }],
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('no_data_domain');
    // The domains exist from here on: a local one on host A, a shared (posix) one.
    domA = await insertDataDomain(t.t.db, { name: 'data-a', path: '/srv/a', hostId: hostA });
    domB = await insertDataDomain(t.t.db, { name: 'data-b', path: '/srv/b' });
  });

  it('creates a disk as an operation: locked, then ok once the agent made its volume on a host that sees the domain', async () => {
    const res = await req('POST', '/disks', { name: 'd1', storage_domain_id: domA, size_gib: 2 });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.headers.location).toBe(`/api/v1/operations/${res.json().operation.id}`);
    expect(res.json().disk).toMatchObject({
      name: 'd1',
      state: 'locked',
      size_bytes: 2 * GiB,
      format: 'qcow2',
    });
    const op = await done(res.json().operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    const disk = (await req('GET', `/disks/${res.json().disk.id}`)).json();
    expect(disk).toMatchObject({
      state: 'ok',
      volumes: 1,
      vm_ids: [],
      storage_domain_id: domA,
      preallocation: 'off',
    });
    expect(hub.calls).toEqual([
      expect.objectContaining({
        hostId: hostA,
        method: 'volume.create',
        params: expect.objectContaining({
          domain_id: domA,
          disk_id: disk.id,
          format: 'qcow2',
          size_bytes: 2 * GiB,
        }),
      }),
    ]);
  });

  it.each([
    [
      'no size',
      { name: 'x', storage_domain_id: '00000000-0000-4000-8000-000000000000' },
      400,
      'invalid_input',
    ],
    [
      'an unknown domain',
      { name: 'x', size_gib: 1, storage_domain_id: '00000000-0000-4000-8000-000000000000' },
      404,
      'storage_domain_not_found',
    ],
    [
      'a shareable qcow2',
      { name: 'x', size_gib: 1, shareable: true, storage_domain_id: '00000000-0000-4000-8000-000000000000' },
      400,
      'invalid_input',
    ],
    [
      'metadata preallocation of raw',
      {
        name: 'x',
        size_gib: 1,
        format: 'raw',
        preallocation: 'metadata',
        storage_domain_id: '00000000-0000-4000-8000-000000000000',
      },
      400,
      'invalid_input',
    ],
  ])('refuses %s', async (_what, body, status, code) => {
    const res = await req('POST', '/disks', body);
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().error.code).toBe(code);
  });

  it('a failed volume creation leaves the disk illegal with the agent error on the operation', async () => {
    hub.handlers.set('volume.create', () => {
      throw new FakeAgentError('qemu_failed');
    });
    const res = await req('POST', '/disks', {
      name: 'bad',
      storage_domain_id: domB,
      size_gib: 1,
      format: 'raw',
    });
    const op = await done(res.json().operation.id);
    expect(op.state).toBe('failed');
    expect((await req('GET', `/disks/${res.json().disk.id}`)).json().state).toBe('illegal');
    // Shared domain: any up host of the data center may do it.
    expect([hostA, hostB]).toContain(hub.calls[0]?.hostId);
  });

  it('lists with filters, search, sort and pagination; PATCH renames with If-Match', async () => {
    const e1 = await createDisk({ name: 'list-1', storage_domain_id: domB, size_gib: 1 });
    await createDisk({ name: 'list-2', storage_domain_id: domB, size_gib: 1, description: 'second' });
    const inB = (await req('GET', `/disks?storage_domain_id=${domB}&search=list-&sort=-name`)).json();
    expect(inB.items.map((d: Json) => d.name)).toEqual(['list-2', 'list-1']);
    const page = (await req('GET', `/disks?storage_domain_id=${domB}&search=list-&limit=1`)).json();
    expect(page.items).toHaveLength(1);
    const next = (
      await req('GET', `/disks?storage_domain_id=${domB}&search=list-&limit=1&cursor=${page.next_cursor}`)
    ).json();
    expect(next.items[0].name).toBe('list-2');
    expect((await req('GET', '/disks?sort=size')).json().error.code).toBe('invalid_sort');

    const got = await req('GET', `/disks/${e1.id}`);
    const etag = got.headers.etag as string;
    expect((await req('PATCH', `/disks/${e1.id}`, { name: 'renamed' })).statusCode).toBe(428);
    const renamed = await req(
      'PATCH',
      `/disks/${e1.id}`,
      { name: 'renamed', description: 'hi' },
      { 'if-match': etag },
    );
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'renamed', description: 'hi' });
    expect((await req('PATCH', `/disks/${e1.id}`, { name: 'again' }, { 'if-match': etag })).statusCode).toBe(
      412,
    );
    expect((await req('GET', '/disks/00000000-0000-4000-8000-000000000000')).json().error.code).toBe(
      'disk_not_found',
    );
  });

  it('extends offline with volume.resize, refuses to shrink, and online with vm.resize_disk when its VM runs', async () => {
    const disk = await createDisk({ name: 'grow', storage_domain_id: domA, size_gib: 1 });
    hub.calls.length = 0;
    hub.handlers.set('volume.resize', () => ({}));
    const etag = (await req('GET', `/disks/${disk.id}`)).headers.etag as string;
    const res = await req('PATCH', `/disks/${disk.id}`, { size_gib: 2 }, { 'if-match': etag });
    expect(res.statusCode, res.body).toBe(202);
    expect((await done(res.json().operation.id)).state).toBe('succeeded');
    expect(hub.calls[0]).toMatchObject({
      hostId: hostA,
      method: 'volume.resize',
      params: { size_bytes: 2 * GiB },
    });
    const grown = await req('GET', `/disks/${disk.id}`);
    expect(grown.json()).toMatchObject({ size_bytes: 2 * GiB, size_gib: 2, state: 'ok' });
    const shrink = await req(
      'PATCH',
      `/disks/${disk.id}`,
      { size_gib: 1 },
      { 'if-match': grown.headers.etag as string },
    );
    expect(shrink.statusCode).toBe(409);
    expect(shrink.json().error.code).toBe('disk_shrink_not_allowed');

    // Attached to a VM that runs on host A: the running QEMU grows it.
    const vm = await createVm('grow-vm');
    expect((await req('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: disk.id })).statusCode).toBe(201);
    await sql`UPDATE vms SET state = 'up', desired_state = 'up', host_id = ${hostA} WHERE id = ${vm.id}`.execute(
      t.t.db,
    );
    hub.calls.length = 0;
    hub.handlers.set('vm.resize_disk', (_h, p) => ({
      vm_id: p.vm_id,
      disk_id: p.disk_id,
      size_bytes: p.size_bytes,
    }));
    const online = await req('PATCH', `/disks/${disk.id}`, { size_bytes: 3 * GiB }, { 'if-match': '*' });
    expect(online.statusCode, online.body).toBe(202);
    const op = await done(online.json().operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect(op.result).toMatchObject({ online: true });
    expect(hub.calls).toEqual([
      expect.objectContaining({
        hostId: hostA,
        method: 'vm.resize_disk',
        params: { vm_id: vm.id, disk_id: disk.id, size_bytes: 3 * GiB },
      }),
    ]);
    // While it runs: no delete, no move.
    const del = await req('DELETE', `/disks/${disk.id}`);
    expect(del.statusCode).toBe(409);
    expect(del.json().error.code).toBe('disk_in_use');
    const mv = await req('POST', `/disks/${disk.id}/move`, { storage_domain_id: domB });
    expect(mv.json().error.code).toBe('disk_in_use');
    await sql`UPDATE vms SET state = 'down', desired_state = 'down' WHERE id = ${vm.id}`.execute(t.t.db);
  });

  it('moves a disk with progress from job.progress events, then deletes the old copy', async () => {
    const disk = await createDisk({ name: 'mover', storage_domain_id: domA, size_gib: 1 });
    hub.calls.length = 0;
    const seen: number[] = [];
    hub.handlers.set('volume.copy', async (h, p) => {
      for (const progress of [0.25, 0.5, 0.75]) {
        hub.emit('event', h, 'job.progress', {
          job_id: p.job_id,
          kind: 'volume.copy',
          state: 'running',
          progress,
        });
        // The operation shows it once the runner has written it (waited for, not slept on).
        const want = 0.05 + progress * 0.9;
        const deadline = Date.now() + 15_000;
        let shown = 0;
        while (Date.now() < deadline) {
          shown = (await req('GET', `/operations/${opId}`)).json().progress;
          if (shown >= want - 1e-6) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        seen.push(shown);
      }
      return {};
    });
    const res = await req('POST', `/disks/${disk.id}/move`, { storage_domain_id: domB });
    expect(res.statusCode, res.body).toBe(202);
    const opId = res.json().operation.id as string;
    expect(res.json().disk.state).toBe('locked');
    const op = await done(opId);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    // 5 % for the preparation, then the copy's share of the remaining 90 %.
    expect(seen.map((p) => Math.round(p * 1000) / 1000)).toEqual([0.275, 0.5, 0.725]);
    // Host A sees both (its local domain and the shared one).
    expect(hub.calls.map((c) => [c.hostId, c.method, c.params.domain_id ?? null])).toEqual([
      [hostA, 'volume.delete', domB],
      [hostA, 'volume.copy', null],
      [hostA, 'volume.delete', domA],
    ]);
    const copy = hub.calls[1]?.params as Json;
    expect(copy.from).toMatchObject({ domain_id: domA, disk_id: disk.id, format: 'qcow2' });
    expect(copy.to).toMatchObject({ domain_id: domB, disk_id: disk.id, format: 'qcow2' });
    expect(copy.to.volume_id).not.toBe(copy.from.volume_id);
    expect((await req('GET', `/disks/${disk.id}`)).json()).toMatchObject({
      storage_domain_id: domB,
      state: 'ok',
      volumes: 1,
    });
  });

  it('cancelling a move stops the copy on the host (volume.cancel); the disk stays where it was, ok', async () => {
    const disk = await createDisk({ name: 'stay', storage_domain_id: domA, size_gib: 1 });
    let release: (() => void) | undefined;
    const cancelled = new Promise<void>((r) => {
      release = r;
    });
    let copying: (() => void) | undefined;
    const started = new Promise<void>((r) => {
      copying = r;
    });
    hub.handlers.set('volume.copy', async () => {
      copying?.();
      await cancelled;
      throw new FakeAgentError('action_cancelled');
    });
    hub.handlers.set('volume.cancel', () => {
      release?.();
      return { cancelled: true };
    });
    const res = await req('POST', `/disks/${disk.id}/move`, { storage_domain_id: domB });
    expect(res.statusCode, res.body).toBe(202);
    await started;
    expect((await req('DELETE', `/operations/${res.json().operation.id}`)).statusCode).toBeLessThan(300);
    const op = await done(res.json().operation.id);
    expect(op.state).toBe('cancelled');
    const copy = hub.calls.find((c) => c.method === 'volume.copy');
    expect(hub.calls.find((c) => c.method === 'volume.cancel')?.params).toEqual({
      job_id: copy?.params.job_id,
    });
    expect((await req('GET', `/disks/${disk.id}`)).json()).toMatchObject({
      storage_domain_id: domA,
      state: 'ok',
    });
  });

  it('copies a disk into a new one; a failed copy leaves the new disk illegal and the source ok', async () => {
    const src = await createDisk({ name: 'src', storage_domain_id: domB, size_gib: 1 });
    hub.handlers.set('volume.copy', () => ({}));
    const res = await req('POST', `/disks/${src.id}/copy`, { storage_domain_id: domA });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().disk).toMatchObject({ name: 'src-copy', storage_domain_id: domA, state: 'locked' });
    expect((await done(res.json().operation.id)).state).toBe('succeeded');
    expect((await req('GET', `/disks/${res.json().disk.id}`)).json().state).toBe('ok');
    expect((await req('GET', `/disks/${src.id}`)).json().state).toBe('ok');

    hub.handlers.set('volume.copy', () => {
      throw new FakeAgentError('qemu_failed');
    });
    const bad = await req('POST', `/disks/${src.id}/copy`, { storage_domain_id: domA, name: 'src-copy2' });
    expect((await done(bad.json().operation.id)).state).toBe('failed');
    expect((await req('GET', `/disks/${bad.json().disk.id}`)).json().state).toBe('illegal');
    expect((await req('GET', `/disks/${src.id}`)).json().state).toBe('ok');
  });

  it('attaches to a down VM at once, hot-plugs into a running one, detaches both ways', async () => {
    const vm = await createVm('att-vm');
    const d1 = await createDisk({ name: 'att-1', storage_domain_id: domA, size_gib: 1 });
    const d2 = await createDisk({ name: 'att-2', storage_domain_id: domA, size_gib: 1 });
    const a1 = await req('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: d1.id, bootable: true });
    expect(a1.statusCode, a1.body).toBe(201);
    expect(a1.json()).toMatchObject({
      vm_id: vm.id,
      disk_id: d1.id,
      position: 0,
      bootable: true,
      interface: 'virtio',
    });
    const again = await req('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: d1.id });
    expect(again.json().error.code).toBe('disk_attached');
    const other = await createVm('att-other');
    expect(
      (await req('POST', `/vms/${other.id}/disk-attachments`, { disk_id: d1.id })).json().error.code,
    ).toBe('disk_attached');
    expect((await req('GET', `/disks?vm_id=${vm.id}`)).json().items.map((d: Json) => d.id)).toEqual([d1.id]);
    expect((await req('GET', `/vms/${vm.id}`)).json().disks).toEqual([
      expect.objectContaining({
        id: d1.id,
        name: 'att-1',
        bootable: true,
        storage_domain_id: domA,
        size_gib: 1,
      }),
    ]);

    await sql`UPDATE vms SET state = 'up', desired_state = 'up', host_id = ${hostA} WHERE id = ${vm.id}`.execute(
      t.t.db,
    );
    hub.calls.length = 0;
    hub.handlers.set('vm.attach_disk', () => ({ vm: {} }));
    const hot = await req('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: d2.id, interface: 'virtio' });
    expect(hot.statusCode, hot.body).toBe(202);
    expect((await done(hot.json().operation.id)).state).toBe('succeeded');
    const plugged = hub.calls[0]?.params as Json;
    expect(hub.calls[0]?.method).toBe('vm.attach_disk');
    expect(plugged.disk).toMatchObject({ id: d2.id, format: 'qcow2', interface: 'virtio', readonly: false });
    expect(plugged.disk.path).toMatch(new RegExp(`^/srv/a/${domA}/images/${d2.id}/[0-9a-f-]{36}$`));
    const list = (await req('GET', `/vms/${vm.id}/disk-attachments`)).json();
    expect(list.items.map((a: Json) => [a.disk_id, a.position])).toEqual([
      [d1.id, 0],
      [d2.id, 1],
    ]);

    // A failed hot-plug removes the attachment again.
    const d3 = await createDisk({ name: 'att-3', storage_domain_id: domA, size_gib: 1 });
    hub.handlers.set('vm.attach_disk', () => {
      throw new FakeAgentError('unsupported');
    });
    const failed = await req('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: d3.id });
    expect((await done(failed.json().operation.id)).state).toBe('failed');
    expect((await req('GET', `/vms/${vm.id}/disk-attachments`)).json().items).toHaveLength(2);

    hub.calls.length = 0;
    hub.handlers.set('vm.detach_disk', () => ({ vm: {} }));
    const unplug = await req('DELETE', `/vms/${vm.id}/disk-attachments/${d2.id}`);
    expect(unplug.statusCode, unplug.body).toBe(202);
    expect((await done(unplug.json().operation.id)).state).toBe('succeeded');
    expect(hub.calls[0]).toMatchObject({
      method: 'vm.detach_disk',
      params: { vm_id: vm.id, disk_id: d2.id },
    });

    await sql`UPDATE vms SET state = 'down', desired_state = 'down' WHERE id = ${vm.id}`.execute(t.t.db);
    expect((await req('DELETE', `/vms/${vm.id}/disk-attachments/${d1.id}`)).statusCode).toBe(204);
    expect((await req('GET', `/vms/${vm.id}/disk-attachments`)).json().items).toEqual([]);
    expect((await req('DELETE', `/vms/${vm.id}/disk-attachments/${d1.id}`)).json().error.code).toBe(
      'disk_not_attached',
    );
    // Floating again, and deletable: its directory is removed from the domain.
    hub.calls.length = 0;
    const del = await req('DELETE', `/disks/${d1.id}`);
    expect(del.statusCode).toBe(202);
    expect((await done(del.json().operation.id)).state).toBe('succeeded');
    expect(hub.calls).toEqual([
      expect.objectContaining({
        hostId: hostA,
        method: 'volume.delete',
        params: { domain_id: domA, disk_id: d1.id },
      }),
    ]);
    expect((await req('GET', `/disks/${d1.id}`)).statusCode).toBe(404);
  });

  it('a VM whose disk is locked by an operation cannot start (409 disk_locked)', async () => {
    const vm = await createVm('locked-vm', { disks: [{ size_gib: 1, storage_domain_id: domB }] });
    await sql`UPDATE disks SET state = 'locked' WHERE id = ${vm.disks[0].id}`.execute(t.t.db);
    const res = await req('POST', `/vms/${vm.id}/start`);
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'disk_locked', details: { disk_id: vm.disks[0].id } });
  });

  it('work on a local domain whose host is not connected fails with no_host_for_storage', async () => {
    hub.connected.delete(hostA);
    const res = await req('POST', '/disks', { name: 'offline', storage_domain_id: domA, size_gib: 1 });
    const op = await done(res.json().operation.id);
    expect(op.state).toBe('failed');
    expect(op.error.code).toBe('no_host_for_storage');
    expect(hub.calls).toEqual([]);
  });
});
