import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertDataDomain } from '../disks/support';
import { createOpsApp, type OpsApp } from '../operations/support';

interface Vm {
  id: string;
  name: string;
  state: string;
  desired_state: string;
  host_id: string | null;
  cpus: number;
  memory_mib: number;
  boot_order: string[];
  cdrom: { image: string } | null;
  disks: {
    size_gib: number;
    format: string;
    interface: string;
    bootable: boolean;
    storage_domain_id: string;
  }[];
  nics: { type: string; mac: string }[];
}
interface ErrorAnswer {
  error: { code: string; details: Record<string, unknown> };
}

const BOOTS_CDROM = { boot_order: ['cdrom'], cdrom: { image: 'boot.iso' } };

describe('VMs over HTTP', () => {
  let t: OpsApp;
  let clusterId: string;
  let domainId: string;
  beforeAll(async () => {
    t = await createOpsApp();
    const c = await t.t.db
      .selectFrom('clusters')
      .select('id')
      .where('name', '=', 'Default')
      .executeTakeFirstOrThrow();
    clusterId = c.id;
    // VMs with disks need an active data domain in their data center.
    domainId = await insertDataDomain(t.t.db, { name: 'vms-data', path: '/srv/vms-data' });
  });
  afterAll(async () => {
    await t?.close();
  });

  function req(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers = {}) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...t.auth(), ...headers },
      ...(payload ? { payload } : {}),
    });
  }

  async function addHost(name: string, state: string, memoryMib: number | null): Promise<string> {
    const caps = memoryMib === null ? null : JSON.stringify({ memory_total_bytes: memoryMib * 1048576 });
    const { rows } = await sql<{ id: string }>`
      INSERT INTO hosts (name, address, cluster_id, state, capabilities)
      VALUES (${name}, ${`${name}.test`}, ${clusterId}, ${state}, ${caps}::jsonb) RETURNING id`.execute(
      t.t.db,
    );
    return rows[0]?.id ?? '';
  }

  async function createVm(body: Record<string, unknown>): Promise<Vm> {
    // Something to boot: a VM without one is refused (vm_not_bootable).
    const res = await req('POST', '/vms', { cluster_id: clusterId, ...BOOTS_CDROM, ...body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as Vm;
  }

  it('creates a VM down with defaults, disks and a generated MAC, and reads it back', async () => {
    const res = await req('POST', '/vms', {
      name: 'web1',
      cluster_id: clusterId,
      cpus: 2,
      memory_mib: 256,
      boot_order: ['cdrom', 'disk'],
      cdrom: { image: 'vireo-test.iso' },
      disks: [
        { size_gib: 1, bootable: true },
        { size_gib: 2, format: 'raw', interface: 'sata' },
      ],
      nics: [{ type: 'user' }],
    });
    expect(res.statusCode, res.body).toBe(201);
    const vm = res.json() as Vm;
    expect(res.headers.location).toBe(`/api/v1/vms/${vm.id}`);
    expect(vm).toMatchObject({
      name: 'web1',
      state: 'down',
      desired_state: 'down',
      host_id: null,
      cpus: 2,
      memory_mib: 256,
      boot_order: ['cdrom', 'disk'],
      cdrom: { image: 'vireo-test.iso' },
      disks: [
        { size_gib: 1, format: 'qcow2', interface: 'virtio', bootable: true, storage_domain_id: domainId },
        { size_gib: 2, format: 'raw', interface: 'sata', bootable: false, storage_domain_id: domainId },
      ],
    });
    expect(vm.nics[0]?.mac).toMatch(/^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
    const got = await req('GET', `/vms/${vm.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(vm);
    const events = await t.t.db.selectFrom('events').select('kind').where('object_id', '=', vm.id).execute();
    expect(events.map((e) => e.kind)).toContain('vm.created');
  });

  it.each([
    [
      'a CD-ROM image path that escapes the ISO directory',
      { cdrom: { image: '../etc/passwd' } },
      'invalid_input',
    ],
    [
      'two bootable disks',
      {
        disks: [
          { size_gib: 1, bootable: true },
          { size_gib: 1, bootable: true },
        ],
      },
      'invalid_input',
    ],
    ['zero CPUs', { cpus: 0 }, 'invalid_input'],
    ['a multicast MAC', { nics: [{ type: 'user', mac: '01:00:5e:00:00:01' }] }, 'invalid_input'],
    ['an unknown field', { gpu: true }, 'invalid_input'],
  ])('rejects %s', async (_what, extra, code) => {
    const res = await req('POST', '/vms', { name: 'bad', cluster_id: clusterId, ...extra });
    expect(res.statusCode).toBe(400);
    expect((res.json() as ErrorAnswer).error.code).toBe(code);
  });

  it('names are unique regardless of case; the cluster must exist', async () => {
    await createVm({ name: 'Dup' });
    const res = await req('POST', '/vms', { name: 'dup', cluster_id: clusterId, ...BOOTS_CDROM });
    expect(res.statusCode).toBe(409);
    expect((res.json() as ErrorAnswer).error.code).toBe('vm_name_taken');
    const none = await req('POST', '/vms', {
      name: 'x',
      cluster_id: '00000000-0000-4000-8000-000000000000',
      ...BOOTS_CDROM,
    });
    expect(none.statusCode).toBe(404);
    expect((none.json() as ErrorAnswer).error.code).toBe('cluster_not_found');
  });

  it('PATCH needs If-Match and bumps the ETag', async () => {
    const vm = await createVm({ name: 'patchme', boot_order: ['cdrom', 'disk'], disks: [{ size_gib: 1 }] });
    expect((await req('PATCH', `/vms/${vm.id}`, { cpus: 4 })).statusCode).toBe(428);
    const got = await req('GET', `/vms/${vm.id}`);
    const res = await req(
      'PATCH',
      `/vms/${vm.id}`,
      { cpus: 4, cdrom: null },
      { 'if-match': got.headers.etag },
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ cpus: 4, cdrom: null });
    const stale = await req('PATCH', `/vms/${vm.id}`, { cpus: 3 }, { 'if-match': got.headers.etag });
    expect(stale.statusCode).toBe(412);
  });

  it.each([
    ['nothing at all (default boot order: disk)', {}],
    ['a CD-ROM boot without an image', { boot_order: ['cdrom'] }],
    ['a disk boot without a disk, an image not in the boot order', { cdrom: { image: 'a.iso' } }],
    ['a network boot without a NIC', { boot_order: ['network'], disks: [] }],
  ])('refuses a VM with nothing to boot: %s', async (_what, extra) => {
    const res = await req('POST', '/vms', { name: 'noboot', cluster_id: clusterId, ...extra });
    expect(res.statusCode, res.body).toBe(400);
    const { error } = res.json() as ErrorAnswer & { error: { details: Record<string, unknown> } };
    expect(error.code).toBe('vm_not_bootable');
    expect(error.details).toMatchObject({ disks: 0, nics: 0 });
    expect(error.details.boot_order).toEqual((extra as { boot_order?: string[] }).boot_order ?? ['disk']);
    const list = await req('GET', '/vms?search=noboot');
    expect((list.json() as { items: unknown[] }).items).toEqual([]);
  });

  it('accepts network boot with a NIC; PATCH cannot take the last boot device away', async () => {
    const vm = await createVm({
      name: 'netboot',
      boot_order: ['network'],
      nics: [{ type: 'user' }],
      cdrom: null,
    });
    const etag = (await req('GET', `/vms/${vm.id}`)).headers.etag;
    const cd = await req('PATCH', `/vms/${vm.id}`, { boot_order: ['cdrom'] }, { 'if-match': etag });
    expect(cd.statusCode, cd.body).toBe(400);
    expect((cd.json() as ErrorAnswer).error.code).toBe('vm_not_bootable');
    const ok = await req(
      'PATCH',
      `/vms/${vm.id}`,
      { boot_order: ['cdrom'], cdrom: { image: 'b.iso' } },
      { 'if-match': etag },
    );
    expect(ok.statusCode, ok.body).toBe(200);
    const off = await req('PATCH', `/vms/${vm.id}`, { cdrom: null }, { 'if-match': ok.headers.etag });
    expect(off.statusCode, off.body).toBe(400);
    expect((off.json() as ErrorAnswer).error.code).toBe('vm_not_bootable');
    expect((await req('GET', `/vms/${vm.id}`)).json()).toMatchObject({
      boot_order: ['cdrom'],
      cdrom: { image: 'b.iso' },
    });
  });

  it('start without a usable host answers no_host_available with a reason per host', async () => {
    const vm = await createVm({ name: 'nohost', memory_mib: 1024 });
    await addHost('h-maint', 'maintenance', 8192);
    await addHost('h-down', 'non_responsive', 8192);
    await addHost('h-small', 'up', 512);
    const res = await req('POST', `/vms/${vm.id}/start`);
    expect(res.statusCode).toBe(409);
    const body = res.json() as ErrorAnswer;
    expect(body.error.code).toBe('no_host_available');
    expect(body.error.details.hosts).toEqual([
      expect.objectContaining({ name: 'h-down', reason: 'host_not_up' }),
      expect.objectContaining({ name: 'h-maint', reason: 'host_in_maintenance' }),
      expect.objectContaining({ name: 'h-small', reason: 'not_enough_memory', free_mib: 512 }),
    ]);
    // Nothing changed: still down, not placed, no operation.
    expect((await req('GET', `/vms/${vm.id}`)).json()).toMatchObject({
      desired_state: 'down',
      host_id: null,
    });
    const ops = await req('GET', `/operations?target_id=${vm.id}`);
    expect((ops.json() as { items: unknown[] }).items).toHaveLength(0);
  });

  it('start places the VM and answers 202 with a vm.start operation; memory is then reserved', async () => {
    const big = await addHost('h-big', 'up', 1536);
    const a = await createVm({ name: 'placed-a', memory_mib: 1024 });
    const res = await req('POST', `/vms/${a.id}/start`);
    expect(res.statusCode, res.body).toBe(202);
    const { operation } = res.json() as { operation: { id: string; type: string; target: unknown } };
    expect(operation).toMatchObject({ type: 'vm.start', target: { kind: 'vm', id: a.id } });
    expect(res.headers.location).toBe(`/api/v1/operations/${operation.id}`);
    expect((await req('GET', `/vms/${a.id}`)).json()).toMatchObject({ desired_state: 'up', host_id: big });
    // The first VM's 1024 MiB are committed on h-big, so a second one no longer fits anywhere.
    const b = await createVm({ name: 'placed-b', memory_mib: 1024 });
    const second = await req('POST', `/vms/${b.id}/start`);
    expect(second.statusCode).toBe(409);
    expect((second.json() as ErrorAnswer).error.details.hosts).toContainEqual(
      expect.objectContaining({ name: 'h-big', reason: 'not_enough_memory', free_mib: 512 }),
    );
  });

  it('actions check the observed state; delete needs a VM that is down', async () => {
    const vm = await createVm({ name: 'acts' });
    for (const action of ['shutdown', 'stop', 'reboot', 'suspend', 'resume']) {
      const res = await req('POST', `/vms/${vm.id}/${action}`);
      expect(res.statusCode, action).toBe(409);
      expect((res.json() as ErrorAnswer).error.code).toBe('vm_invalid_state');
    }
    // As if the monitor saw it come up.
    await t.t.db
      .updateTable('vms')
      .set({ state: 'up', desired_state: 'up' })
      .where('id', '=', vm.id)
      .execute();
    const del = await req('DELETE', `/vms/${vm.id}`);
    expect(del.statusCode).toBe(409);
    expect((del.json() as ErrorAnswer).error.code).toBe('vm_not_down');
    const suspend = await req('POST', `/vms/${vm.id}/suspend`);
    expect(suspend.statusCode).toBe(202);
    expect((await req('GET', `/vms/${vm.id}`)).json()).toMatchObject({ desired_state: 'paused' });
    const stop = await req('POST', `/vms/${vm.id}/stop`);
    expect(stop.statusCode).toBe(202);
    expect((stop.json() as { operation: { type: string } }).operation.type).toBe('vm.stop');
  });

  it('DELETE of a down VM queues vm.delete with the remove_disks choice', async () => {
    const vm = await createVm({ name: 'gone', disks: [{ size_gib: 1 }] });
    const res = await req('DELETE', `/vms/${vm.id}?remove_disks=false`);
    expect(res.statusCode, res.body).toBe(202);
    const { operation } = res.json() as { operation: { type: string; input: Record<string, unknown> } };
    expect(operation.type).toBe('vm.delete');
    expect(operation.input.remove_disks).toBe(false);
    expect((await req('DELETE', `/vms/${vm.id}?remove_disks=maybe`)).statusCode).toBe(400);
  });

  it('lists with filters and 404s unknown ids', async () => {
    const res = await req('GET', `/vms?cluster_id=${clusterId}&sort=name&limit=2`);
    expect(res.statusCode).toBe(200);
    const page = res.json() as { items: Vm[]; next_cursor: string | null };
    expect(page.items).toHaveLength(2);
    expect(page.next_cursor).not.toBeNull();
    const missing = await req('GET', '/vms/00000000-0000-4000-8000-000000000000');
    expect(missing.statusCode).toBe(404);
    expect((missing.json() as ErrorAnswer).error.code).toBe('vm_not_found');
  });
});
