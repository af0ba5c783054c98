import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VmController } from '../../src/controllers/vm-controller';
import { registerVmOperations } from '../../src/controllers/vm-operations';
import { VmMonitor } from '../../src/monitors/vm-monitor';
import { insertDataDomain } from '../disks/support';
import { createOpsApp, type OpsApp, until } from '../operations/support';
import { FakeAgentError, FakeHub, vmInfo } from './fake-hub';

interface Op {
  id: string;
  state: string;
  error: { code: string; details?: Record<string, unknown> } | null;
  result: Record<string, unknown> | null;
}

const BOOTS_CDROM = { boot_order: ['cdrom'], cdrom: { image: 'boot.iso' } };

describe('VM controller and monitor (recorded fake hub, real database and operations)', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let monitor: VmMonitor;
  let hostId: string;
  let clusterId: string;
  let domainId: string;
  const paths = { isoDir: '/srv/iso', imageDir: '/srv/images' };

  beforeAll(async () => {
    hub = new FakeHub();
    const log = pino({ level: 'silent' });
    // createOpsApp makes the database and starts the runner; handlers are registered before that,
    // so they share this object and get the database once it exists (no operation runs before).
    const shared = { db: undefined as unknown as OpsApp['t']['db'], hub: hub.asHub(), log, paths };
    monitor = new VmMonitor(shared);
    const controller = new VmController(Object.assign(shared, { monitor, actionTimeoutMs: 3000 }));
    const audit = {
      record: (ex: Parameters<OpsApp['events']['audit']['record']>[0], e: never) =>
        t.events.audit.record(ex, e),
    };
    t = await createOpsApp({
      register(ops) {
        registerVmOperations(ops.registry, Object.assign(shared, { controller, audit }));
      },
    });
    shared.db = t.t.db;
    monitor.start();
    clusterId = (
      await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
    ).id;
    const { rows } = await sql<{ id: string }>`
      INSERT INTO hosts (name, address, cluster_id, state, capabilities)
      VALUES ('h1', 'h1.test', ${clusterId}, 'up', ${JSON.stringify({ memory_total_bytes: 8 * 1024 ** 3 })}::jsonb)
      RETURNING id`.execute(t.t.db);
    hostId = rows[0]?.id ?? '';
    domainId = await insertDataDomain(t.t.db, { name: 'ctl-data', path: '/srv/data', hostId });
  });
  afterAll(async () => {
    monitor?.stop();
    await t?.close();
  });
  beforeEach(() => {
    hub.calls.length = 0;
    hub.connected.clear();
    hub.connected.add(hostId);
    hub.handlers.clear();
  });

  async function req(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
    return t.app.inject({ method, url: `/api/v1${url}`, headers: t.auth(), ...(payload ? { payload } : {}) });
  }
  async function createVm(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    // Something to boot: a VM without one is refused (vm_not_bootable).
    const res = await req('POST', '/vms', { name, cluster_id: clusterId, ...BOOTS_CDROM, ...extra });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as { id: string }).id;
  }
  async function act(vmId: string, action: string): Promise<Op> {
    const res = await req('POST', `/vms/${vmId}/${action}`);
    expect(res.statusCode, res.body).toBe(202);
    const { operation } = res.json() as { operation: Op };
    const done = await req('GET', `/operations/${operation.id}?wait=10`);
    return done.json() as Op;
  }
  async function vm(vmId: string) {
    return (await req('GET', `/vms/${vmId}`)).json() as { state: string; disks: { id: string }[] };
  }

  it('start creates the blank disk in its data domain, sends the full spec once and succeeds when the VM is up', async () => {
    const id = await createVm('ctl-a', {
      cpus: 2,
      memory_mib: 256,
      disks: [{ size_gib: 1, bootable: true }],
      cdrom: { image: 'boot.iso' },
      boot_order: ['cdrom', 'disk'],
      nics: [{ type: 'user', mac: '52:54:00:12:34:56' }],
    });
    hub.handlers.set('volume.create', () => ({}));
    hub.handlers.set('vm.start', (_h, p) => ({ vm: vmInfo((p.spec as { id: string }).id, 'up', 'started') }));
    const op = await act(id, 'start');
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect(hub.methods()).toEqual(['volume.create', 'vm.start']);
    const created = hub.calls[0]?.params as { disk_id: string; volume_id: string };
    expect(created).toMatchObject({ domain_id: domainId, format: 'qcow2', size_bytes: 1024 ** 3 });
    const diskPath = `/srv/data/${domainId}/images/${created.disk_id}/${created.volume_id}`;
    expect(hub.calls[1]?.params.spec).toMatchObject({
      id,
      name: 'ctl-a',
      cpu: { model: 'qemu64', sockets: 1, cores: 2, threads: 1 },
      memory_mib: 256,
      disks: [{ path: diskPath, format: 'qcow2', interface: 'virtio', bootable: true, readonly: false }],
      cdrom: { path: '/srv/iso/boot.iso' },
      boot_order: ['cdrom', 'disk'],
      nics: [{ mac: '52:54:00:12:34:56', backend: { type: 'user' } }],
      display: { vnc: true },
      serial: true,
    });
    expect(await vm(id)).toMatchObject({ state: 'up', disks: [{ id: created.disk_id }] });

    // Shutdown: one vm.shutdown; the agent's answer (down) completes it.
    hub.calls.length = 0;
    hub.handlers.set('vm.shutdown', (_h, p) => ({
      vm: vmInfo(p.vm_id as string, 'down', 'guest_shutdown'),
      forced: false,
    }));
    expect((await act(id, 'shutdown')).state).toBe('succeeded');
    expect(hub.methods()).toEqual(['vm.shutdown']);

    // A second start reuses the existing disk: no volume.create.
    hub.calls.length = 0;
    expect((await act(id, 'start')).state).toBe('succeeded');
    expect(hub.methods()).toEqual(['vm.start']);
  });

  it('a start the agent already did (vm_exists) adopts the running VM instead of failing', async () => {
    const id = await createVm('ctl-adopt');
    hub.handlers.set('vm.start', () => {
      throw new FakeAgentError('vm_exists');
    });
    hub.handlers.set('vm.get', (_h, p) => ({ vm: vmInfo(p.vm_id as string, 'up', 'recovered'), spec: null }));
    const op = await act(id, 'start');
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect(hub.methods()).toEqual(['vm.start', 'vm.get']);
    expect((await vm(id)).state).toBe('up');
  });

  it("a failed start fails the operation with the agent's code and leaves the VM down", async () => {
    const id = await createVm('ctl-fail');
    hub.handlers.set('vm.start', () => {
      throw new FakeAgentError('qemu_failed');
    });
    const op = await act(id, 'start');
    expect(op.state).toBe('failed');
    expect(op.error).toMatchObject({ code: 'vm_action_failed', details: { agent_code: 'qemu_failed' } });
    expect(hub.methods()).toEqual(['vm.start']);
    expect((await vm(id)).state).toBe('down');
  });

  it('suspend/resume and stop go through vm.pause, vm.resume and vm.stop', async () => {
    const id = await createVm('ctl-pause');
    hub.handlers.set('vm.start', (_h, p) => ({ vm: vmInfo((p.spec as { id: string }).id, 'up', 'started') }));
    hub.handlers.set('vm.pause', (_h, p) => ({ vm: vmInfo(p.vm_id as string, 'paused', 'paused') }));
    hub.handlers.set('vm.resume', (_h, p) => ({ vm: vmInfo(p.vm_id as string, 'up', 'resumed') }));
    hub.handlers.set('vm.stop', (_h, p) => ({ vm: vmInfo(p.vm_id as string, 'down', 'powered_off') }));
    for (const a of ['start', 'suspend', 'resume', 'stop'])
      expect((await act(id, a)).state, a).toBe('succeeded');
    expect(hub.methods()).toEqual(['vm.start', 'vm.pause', 'vm.resume', 'vm.stop']);
  });

  it('monitor: vm.state events, host disconnect (unknown) and reconnect (vm.list) set the observed state', async () => {
    const id = await createVm('ctl-mon');
    hub.handlers.set('vm.start', (_h, p) => ({ vm: vmInfo((p.spec as { id: string }).id, 'up', 'started') }));
    expect((await act(id, 'start')).state).toBe('succeeded');
    // A state event from another host is ignored.
    hub.emit('event', '00000000-0000-4000-8000-000000000000', 'vm.state', {
      vm_id: id,
      state: 'down',
      reason: 'crashed',
    });
    hub.emit('event', hostId, 'vm.state', { vm_id: id, state: 'paused', reason: 'paused_io_error' });
    await until('paused', async () => (await vm(id)).state === 'paused');
    hub.emit('disconnected', hostId, 'test');
    await until('unknown', async () => (await vm(id)).state === 'unknown');
    hub.handlers.set('vm.list', () => ({ vms: [vmInfo(id, 'up', 'recovered')], external: [] }));
    hub.emit('connected', hostId, {} as never);
    await until('up again', async () => (await vm(id)).state === 'up');
    // Gone from the agent's list: down.
    hub.handlers.set('vm.list', () => ({ vms: [], external: [] }));
    hub.emit('connected', hostId, {} as never);
    await until('down', async () => (await vm(id)).state === 'down');
  });

  it('a start while the host is not connected waits, then fails with host_not_connected; no agent call', async () => {
    const id = await createVm('ctl-offline');
    hub.connected.clear();
    const op = await act(id, 'start');
    expect(op.state).toBe('failed');
    expect(op.error?.code).toBe('host_not_connected');
    expect(hub.calls).toEqual([]);
  });

  it('delete destroys the VM on its host and removes the row', async () => {
    const id = await createVm('ctl-del');
    hub.handlers.set('vm.start', (_h, p) => ({ vm: vmInfo((p.spec as { id: string }).id, 'up', 'started') }));
    hub.handlers.set('vm.stop', (_h, p) => ({ vm: vmInfo(p.vm_id as string, 'down', 'powered_off') }));
    hub.handlers.set('vm.destroy', (_h, p) => ({ vm_id: p.vm_id }));
    await act(id, 'start');
    await act(id, 'stop');
    const res = await req('DELETE', `/vms/${id}`);
    expect(res.statusCode).toBe(202);
    const { operation } = res.json() as { operation: Op };
    const done = (await req('GET', `/operations/${operation.id}?wait=10`)).json() as Op;
    expect(done.state).toBe('succeeded');
    expect(hub.methods()).toEqual(['vm.start', 'vm.stop', 'vm.destroy']);
    expect((await req('GET', `/vms/${id}`)).statusCode).toBe(404);
  });

  it('delete with remove_disks deletes the volumes of its own disks; without, they stay as floating disks', async () => {
    hub.handlers.set('volume.create', () => ({}));
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
    hub.handlers.set('vm.start', (_h, p) => ({ vm: vmInfo((p.spec as { id: string }).id, 'up', 'started') }));
    hub.handlers.set('vm.stop', (_h, p) => ({ vm: vmInfo(p.vm_id as string, 'down', 'powered_off') }));
    hub.handlers.set('vm.destroy', (_h, p) => ({ vm_id: p.vm_id }));
    const deleteVm = async (id: string, query: string) => {
      const res = await req('DELETE', `/vms/${id}${query}`);
      expect(res.statusCode).toBe(202);
      const { operation } = res.json() as { operation: Op };
      return (await req('GET', `/operations/${operation.id}?wait=10`)).json() as Op;
    };
    for (const [name, query, removed] of [
      ['ctl-keep', '?remove_disks=false', false],
      ['ctl-drop', '', true],
    ] as const) {
      const id = await createVm(name, { disks: [{ size_gib: 1 }], boot_order: ['disk'] });
      const diskId = ((await vm(id)).disks[0] as { id: string }).id;
      await act(id, 'start');
      await act(id, 'stop');
      hub.calls.length = 0;
      const done = await deleteVm(id, query);
      expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
      const disk = await req('GET', `/disks/${diskId}`);
      if (removed) {
        expect(hub.methods()).toEqual(['vm.destroy', 'volume.delete']);
        expect(hub.calls[1]?.params).toEqual({ domain_id: domainId, disk_id: diskId });
        expect(done.result).toMatchObject({ removed_disk_ids: [diskId], detached_disk_ids: [] });
        expect(disk.statusCode).toBe(404);
      } else {
        expect(hub.methods()).toEqual(['vm.destroy']);
        expect(done.result).toMatchObject({ removed_disk_ids: [], detached_disk_ids: [diskId] });
        expect(disk.json()).toMatchObject({ id: diskId, vm_ids: [], state: 'ok' });
      }
    }
  });
});
