import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentHub } from '../../src/agents/types';
import { StorageDomainController } from '../../src/controllers/storage-domain-controller';
import { createStorageDomainService } from '../../src/services/storage-domains';
import { createOpsApp, type OpsApp } from '../operations/support';

interface Domain {
  id: string;
  name: string;
  kind: string;
  backend: string;
  state: string;
  state_reason: string;
  datacenter_id: string | null;
  host_id: string | null;
  path: string;
  total_bytes: number | null;
  free_bytes: number | null;
}
interface Op {
  id: string;
  state: string;
  error: { code: string } | null;
}

/**
 * The agent boundary, faked: records calls and answers like an agent whose storage works (or
 * fails with `storage_unreachable` for hosts in `broken`). The real agent side is tested in
 * packages/agent and in test/e2e/storage-domains.test.ts.
 */
class FakeHub extends EventEmitter {
  calls: { host: string; method: string; params: Record<string, unknown> }[] = [];
  connected = new Set<string>();
  broken = new Set<string>();
  /** Runs before an activation answers (to interleave something with a controller pass). */
  beforeActivate: (() => Promise<void>) | undefined;
  isConnected(h: string) {
    return this.connected.has(h);
  }
  hello() {
    return undefined;
  }
  async call(host: string, method: string, params: Record<string, unknown>) {
    this.calls.push({ host, method, params });
    if (this.broken.has(host)) {
      throw Object.assign(new Error('mount failed'), {
        agentCode: 'storage_unreachable',
        code: 'agent_error',
      });
    }
    if (method === 'storage.activate') {
      await this.beforeActivate?.();
      const d = params.domain as { id: string; name: string; kind: string };
      return {
        total_bytes: 1000,
        free_bytes: 600,
        root: `/x/${d.id}`,
        metadata: {
          ...d,
          format_version: 1,
          owner_engine_id: params.engine_id,
          created_at: '',
          updated_at: '',
        },
      };
    }
    if (method === 'storage.deactivate') return { id: params.id, was_active: true };
    if (method === 'storage.list_isos')
      return { files: [{ name: 'a.iso', size_bytes: 3, modified_at: new Date(0).toISOString() }] };
    throw new Error(`unexpected ${method}`);
  }
}

describe('storage domains over HTTP', () => {
  let t: OpsApp;
  const hub = new FakeHub();
  let controller: StorageDomainController;
  let clusterId: string;
  let dcId: string;
  let host1: string;
  let host2: string;

  beforeAll(async () => {
    // The controller reads its deps when operations run: the database and audit of the app are
    // filled in once createOpsApp made them (handlers must be registered before its runner starts).
    const deps = {
      hub: hub as unknown as AgentHub,
      log: pino({ level: 'silent' }),
    } as ConstructorParameters<typeof StorageDomainController>[0];
    t = await createOpsApp({
      register(ops) {
        deps.registry = ops.registry;
        controller = new StorageDomainController(deps);
      },
    });
    deps.db = t.t.db;
    deps.audit = t.events.audit;
    const c = await t.t.db
      .selectFrom('clusters')
      .select(['id', 'datacenter_id'])
      .where('name', '=', 'Default')
      .executeTakeFirstOrThrow();
    clusterId = c.id;
    dcId = c.datacenter_id;
    host1 = await addHost('sd-h1', 'up');
    host2 = await addHost('sd-h2', 'up');
    hub.connected.add(host1).add(host2);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function addHost(name: string, state: string): Promise<string> {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO hosts (name, address, cluster_id, state) VALUES (${name}, ${`${name}.test`}, ${clusterId}, ${state})
      RETURNING id`.execute(t.t.db);
    return rows[0]?.id ?? '';
  }

  function req(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers = {}) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...t.auth(), ...headers },
      ...(payload ? { payload } : {}),
    });
  }

  async function create(body: Record<string, unknown>): Promise<Domain> {
    const res = await req('POST', '/storage-domains', body);
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as Domain;
  }

  /** Starts an action and waits for its operation to end. */
  async function act(id: string, action: string, body?: unknown): Promise<Op> {
    const res = await req('POST', `/storage-domains/${id}/${action}`, body ?? {});
    expect(res.statusCode, res.body).toBe(202);
    const opId = (res.json() as { operation: { id: string } }).operation.id;
    for (;;) {
      const r = await req('GET', `/operations/${opId}?wait=30`);
      const op = r.json() as Op;
      if (op.state === 'succeeded' || op.state === 'failed') return op;
    }
  }

  async function get(id: string): Promise<Domain> {
    return (await req('GET', `/storage-domains/${id}`)).json() as Domain;
  }

  it('validates the location per backend', async () => {
    const bad = [
      { name: 'b1', kind: 'data', backend: 'local', path: '/srv/x' }, // no host
      { name: 'b2', kind: 'data', backend: 'posix' }, // no path
      { name: 'b3', kind: 'data', backend: 'nfs', nfs_server: 'filer' }, // no export
      { name: 'b4', kind: 'data', backend: 'nfs', nfs_server: 'filer', nfs_export: '/e', path: '/mnt' },
      { name: 'b5', kind: 'data', backend: 'posix', path: '/srv/x', nfs_server: 'filer' },
      { name: 'b6', kind: 'data', backend: 'posix', path: '/srv/../etc' },
      { name: 'b7', kind: 'data', backend: 'posix', path: 'relative' },
      { name: 'b8', kind: 'data', backend: 'nfs', nfs_server: 'filer;rm', nfs_export: '/e' },
      {
        name: 'b9',
        kind: 'data',
        backend: 'nfs',
        nfs_server: 'filer',
        nfs_export: '/e',
        mount_options: 'a b',
      },
      { name: 'b10', kind: 'tape', backend: 'posix', path: '/srv/x' },
    ];
    for (const body of bad) {
      const res = await req('POST', '/storage-domains', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    const missingHost = await req('POST', '/storage-domains', {
      name: 'b11',
      kind: 'data',
      backend: 'local',
      path: '/srv/x',
      host_id: randomUUID(),
    });
    expect(missingHost.statusCode).toBe(404);
  });

  it('creates, lists with filters and pages, updates with ETag, refuses duplicate names', async () => {
    const nfs = await create({
      name: 'nfs1',
      kind: 'data',
      backend: 'nfs',
      nfs_server: 'filer.example',
      nfs_export: '/exports/v',
    });
    expect(nfs.path).toBe(`/run/vireo-agent/storage/${nfs.id}`);
    expect(nfs.state).toBe('unattached');
    const iso = await create({ name: 'isos1', kind: 'iso', backend: 'posix', path: '/srv/isos/' });
    expect(iso.path).toBe('/srv/isos');
    const dup = await req('POST', '/storage-domains', {
      name: 'NFS1',
      kind: 'iso',
      backend: 'posix',
      path: '/a',
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('storage_domain_name_taken');

    const isoOnly = await req('GET', '/storage-domains?kind=iso');
    expect((isoOnly.json().items as Domain[]).map((d) => d.name)).toEqual(['isos1']);
    const page1 = await req('GET', '/storage-domains?limit=1&sort=-name');
    expect(page1.json().items[0].name).toBe('nfs1');
    const page2 = await req(
      'GET',
      `/storage-domains?limit=1&sort=-name&cursor=${encodeURIComponent(page1.json().next_cursor)}`,
    );
    expect(page2.json().items[0].name).toBe('isos1');
    const search = await req('GET', '/storage-domains?search=ISOS');
    expect(search.json().items).toHaveLength(1);

    const got = await req('GET', `/storage-domains/${iso.id}`);
    const etag = got.headers.etag as string;
    const noMatch = await req('PATCH', `/storage-domains/${iso.id}`, { description: 'x' });
    expect(noMatch.statusCode).toBe(428);
    const ok = await req(
      'PATCH',
      `/storage-domains/${iso.id}`,
      { description: 'ISO images' },
      { 'if-match': etag },
    );
    expect(ok.statusCode, ok.body).toBe(200);
    const stale = await req(
      'PATCH',
      `/storage-domains/${iso.id}`,
      { description: 'y' },
      { 'if-match': etag },
    );
    expect(stale.statusCode).toBe(412);
    const moved = await req('PATCH', `/storage-domains/${iso.id}`, { kind: 'data' }, { 'if-match': '*' });
    expect(moved.statusCode).toBe(400);
  });

  it('attach → maintenance → activate → active on every up host, capacity, ISOs, maintenance, detach', async () => {
    const d = await create({ name: 'shared', kind: 'iso', backend: 'posix', path: '/srv/shared' });
    const notYet = await req('POST', `/storage-domains/${d.id}/activate`);
    expect(notYet.statusCode).toBe(409);
    expect(notYet.json().error.code).toBe('storage_domain_state_invalid');

    hub.calls = [];
    const attach = await act(d.id, 'attach', { datacenter_id: dcId });
    expect(attach.state, JSON.stringify(attach.error)).toBe('succeeded');
    let row = await get(d.id);
    expect(row).toMatchObject({
      state: 'maintenance',
      datacenter_id: dcId,
      total_bytes: 1000,
      free_bytes: 600,
    });
    // Written once with create_metadata, then deactivated again.
    expect(hub.calls.map((c) => c.method)).toEqual(['storage.activate', 'storage.deactivate']);
    expect(hub.calls[0]?.params.create_metadata).toBe(true);

    hub.calls = [];
    const activate = await act(d.id, 'activate');
    expect(activate.state).toBe('succeeded');
    row = await get(d.id);
    expect(row.state).toBe('active');
    expect(new Set(hub.calls.map((c) => c.host))).toEqual(new Set([host1, host2]));
    expect(hub.calls.every((c) => c.params.create_metadata === false)).toBe(true);

    // This app has no agent connections (no HostRuntime): the route says so; the service asks a host.
    const noHub = await req('GET', `/storage-domains/${d.id}/isos`);
    expect(noHub.statusCode).toBe(503);
    const service = createStorageDomainService({
      db: t.t.db,
      log: pino({ level: 'silent' }),
      audit: t.events.audit,
      operations: t.operations,
      agents: hub as unknown as AgentHub,
    });
    expect((await service.isos(d.id)).map((f) => f.name)).toEqual(['a.iso']);

    const busy = await req('DELETE', `/storage-domains/${d.id}`);
    expect(busy.statusCode).toBe(409);
    expect(busy.json().error.code).toBe('storage_domain_attached');

    expect((await act(d.id, 'maintenance')).state).toBe('succeeded');
    expect((await get(d.id)).state).toBe('maintenance');
    hub.calls = [];
    expect((await act(d.id, 'detach')).state).toBe('succeeded');
    row = await get(d.id);
    expect(row).toMatchObject({ state: 'unattached', datacenter_id: null });
    expect(hub.calls.at(-1)).toMatchObject({
      method: 'storage.deactivate',
      params: { id: d.id, release: true },
    });

    const events = await t.t.db
      .selectFrom('events')
      .select('kind')
      .where('object_id', '=', d.id)
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.kind)).toEqual(
      expect.arrayContaining([
        'storage_domain.created',
        'storage_domain.maintenance',
        'storage_domain.active',
        'storage_domain.unattached',
      ]),
    );
    const del = await req('DELETE', `/storage-domains/${d.id}`);
    expect(del.statusCode).toBe(204);
  });

  it('a failed action puts the domain back; the controller marks unreachable domains inactive and back', async () => {
    const d = await create({ name: 'flaky', kind: 'data', backend: 'posix', path: '/srv/flaky' });
    hub.broken.add(host1).add(host2);
    const failed = await act(d.id, 'attach', { datacenter_id: dcId });
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('storage_domain_unreachable');
    expect((await get(d.id)).state).toBe('unattached');

    hub.broken.clear();
    expect((await act(d.id, 'attach', { datacenter_id: dcId })).state).toBe('succeeded');
    expect((await act(d.id, 'activate')).state).toBe('succeeded');
    hub.broken.add(host1).add(host2);
    await controller.reconcileAll();
    let row = await get(d.id);
    expect(row.state).toBe('inactive');
    expect(row.state_reason).toContain('storage_unreachable');
    hub.broken.delete(host2);
    await controller.reconcileAll();
    row = await get(d.id);
    expect(row.state).toBe('active');
    hub.broken.clear();
  });

  it('activates the active domains of a data center on a host whose agent (re)connects', async () => {
    const d = await create({ name: 'reconnect', kind: 'data', backend: 'posix', path: '/srv/reconnect' });
    expect((await act(d.id, 'attach', { datacenter_id: dcId })).state).toBe('succeeded');
    expect((await act(d.id, 'activate')).state).toBe('succeeded');
    controller.start();
    try {
      hub.calls = [];
      hub.emit('connected', host2, {});
      const end = Date.now() + 20_000;
      while (
        !hub.calls.some(
          (c) =>
            c.host === host2 &&
            c.method === 'storage.activate' &&
            (c.params.domain as { id: string }).id === d.id,
        )
      ) {
        if (Date.now() > end) throw new Error('no storage.activate after the connect');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await controller.stop();
    }
    expect((await act(d.id, 'maintenance')).state).toBe('succeeded');
  });

  it("a VM CD-ROM is an ISO domain's file; the domain cannot be removed while a VM uses it", async () => {
    const iso = await create({ name: 'vm-isos', kind: 'iso', backend: 'posix', path: '/srv/vm-isos' });
    const data = await create({ name: 'vm-data', kind: 'data', backend: 'posix', path: '/srv/vm-data' });
    const vmBody = (cdrom: unknown) => ({
      name: `cd-${randomUUID().slice(0, 8)}`,
      cluster_id: clusterId,
      boot_order: ['cdrom'],
      cdrom,
    });
    const made = await req('POST', '/vms', vmBody({ storage_domain_id: iso.id, file: 'installer.iso' }));
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json().cdrom).toEqual({ storage_domain_id: iso.id, file: 'installer.iso' });
    const vmId = made.json().id as string;
    expect(
      (await req('POST', '/vms', vmBody({ storage_domain_id: data.id, file: 'x.iso' }))).statusCode,
    ).toBe(409);
    expect(
      (await req('POST', '/vms', vmBody({ storage_domain_id: randomUUID(), file: 'x.iso' }))).statusCode,
    ).toBe(404);
    expect(
      (await req('POST', '/vms', vmBody({ storage_domain_id: iso.id, file: '../x.iso' }))).statusCode,
    ).toBe(400);
    const inUse = await req('DELETE', `/storage-domains/${iso.id}`);
    expect(inUse.statusCode).toBe(409);
    expect(inUse.json().error).toMatchObject({
      code: 'storage_domain_in_use',
      details: { blocking: [{ kind: 'vm', id: vmId }] },
    });
    // Ejecting the medium frees the domain.
    const ejected = await req(
      'PATCH',
      `/vms/${vmId}`,
      { cdrom: null, boot_order: ['network'] },
      { 'if-match': '*' },
    );
    expect(ejected.statusCode).toBe(400); // nothing left to boot: refused, the CD stays
    const changed = await req(
      'PATCH',
      `/vms/${vmId}`,
      { cdrom: { image: 'local.iso' } },
      { 'if-match': '*' },
    );
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json().cdrom).toEqual({ image: 'local.iso' });
    expect((await req('DELETE', `/storage-domains/${iso.id}`)).statusCode).toBe(204);
  });

  it('a data center with attached storage domains cannot be deleted', async () => {
    const dc = await req('POST', '/datacenters', { name: 'sd-dc' });
    expect(dc.statusCode).toBe(201);
    const d = await create({ name: 'dc-bound', kind: 'data', backend: 'posix', path: '/srv/dc-bound' });
    // As if attached through a host of that data center that is gone since.
    await t.t.db
      .updateTable('storage_domains')
      .set({ datacenter_id: dc.json().id, state: 'maintenance' })
      .where('id', '=', d.id)
      .execute();
    const refused = await req('DELETE', `/datacenters/${dc.json().id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({
      code: 'datacenter_not_empty',
      details: { blocking: [{ kind: 'storage_domain', id: d.id, name: 'dc-bound' }] },
    });
  });

  it('a controller pass that overlaps a finished maintenance deactivates again what it activated', async () => {
    const d = await create({ name: 'racy', kind: 'data', backend: 'posix', path: '/srv/racy' });
    expect((await act(d.id, 'attach', { datacenter_id: dcId })).state).toBe('succeeded');
    expect((await act(d.id, 'activate')).state).toBe('succeeded');
    const row = await t.t.db
      .selectFrom('storage_domains')
      .selectAll()
      .where('id', '=', d.id)
      .executeTakeFirstOrThrow();
    // The pass read the domain active; maintenance completes before its activations answer.
    hub.beforeActivate = async () => {
      await t.t.db
        .updateTable('storage_domains')
        .set({ state: 'maintenance' })
        .where('id', '=', d.id)
        .execute();
    };
    hub.calls = [];
    try {
      await controller.reconcile(row);
    } finally {
      hub.beforeActivate = undefined;
    }
    const deactivated = hub.calls.filter((c) => c.method === 'storage.deactivate').map((c) => c.host);
    expect(new Set(deactivated)).toEqual(new Set([host1, host2]));
    expect((await get(d.id)).state).toBe('maintenance');
  });

  it('a local domain lives on its host only and refuses removal while it holds disks', async () => {
    const d = await create({
      name: 'local1',
      kind: 'data',
      backend: 'local',
      path: '/var/lib/vireo/local',
      host_id: host1,
    });
    expect(d.host_id).toBe(host1);
    expect((await act(d.id, 'attach', { datacenter_id: dcId })).state).toBe('succeeded');
    hub.calls = [];
    expect((await act(d.id, 'activate')).state).toBe('succeeded');
    expect(hub.calls.map((c) => c.host)).toEqual([host1]);
    const iso = await req('GET', `/storage-domains/${d.id}/isos`);
    expect(iso.statusCode).toBe(409);
    expect((await act(d.id, 'maintenance')).state).toBe('succeeded');
    expect((await act(d.id, 'detach')).state).toBe('succeeded');

    await t.t.db
      .insertInto('disks')
      .values({ name: 'd1', storage_domain_id: d.id, size_bytes: 1 << 20, format: 'qcow2' })
      .execute();
    const del = await req('DELETE', `/storage-domains/${d.id}`);
    expect(del.statusCode).toBe(409);
    expect(del.json().error).toMatchObject({
      code: 'storage_domain_not_empty',
      details: { blocking: [{ kind: 'disk', name: 'd1' }], blocking_total: 1 },
    });
  });

  it('removal is refused (409) while an upload runs into the domain, and forgets ended ones', async () => {
    const d = await create({ name: 'isos2', kind: 'iso', backend: 'posix', path: '/srv/isos2' });
    const upload = (state: 'finished' | 'failed' | 'transferring', file: string) =>
      t.t.db
        .insertInto('image_transfers')
        .values({
          direction: 'upload',
          storage_domain_id: d.id,
          format: 'iso',
          iso_file: file,
          size_bytes: 1024,
          state,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    await upload('finished', 'done.iso');
    await upload('failed', 'broken.iso');
    const running = await upload('transferring', 'busy.iso');
    const refused = await req('DELETE', `/storage-domains/${d.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({
      code: 'storage_domain_in_use',
      details: { blocking: [{ kind: 'image_transfer', id: running.id }] },
    });
    await t.t.db
      .updateTable('image_transfers')
      .set({ state: 'cancelled' })
      .where('id', '=', running.id)
      .execute();
    expect((await req('DELETE', `/storage-domains/${d.id}`)).statusCode).toBe(204);
    const left = await t.t.db
      .selectFrom('image_transfers')
      .select('id')
      .where('storage_domain_id', '=', d.id)
      .execute();
    expect(left).toEqual([]);
  });
});
