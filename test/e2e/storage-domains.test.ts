import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary, agentPids } from '../../packages/agent/test/support/binary';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import { makeDataDir, removeDataDir, startEngine } from '../support/engine';
import { runCli, loginCli } from '../cli/support/cli';
import { freePort } from '../support/net';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

/** Pids of `vireo-agent serve` processes whose command line names this state directory. */
/** An all-in-one engine (its own local agent) and a small API client for it. */
async function allInOne(dataDir: string) {
  const port = await freePort();
  const engine = await startEngine({
    dataDir,
    env: {
      VIREO_LOCAL_HOST: '1',
      VIREO_LOCAL_AGENT_PORT: String(port),
      VIREO_LOCAL_AGENT_ACCEL: 'tcg',
      VIREO_HOST_HEARTBEAT_MS: '300',
    },
    // Eight test runs may share two cores: room for a slow start.
    timeoutMs: 180_000,
  });
  const dispatcher = new Agent({ connect: { ca: engine.caPem } });
  let token = '';
  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${engine.url}/api/v1${p}`, {
      method,
      headers: {
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
  };
  token = (await api('POST', '/auth/login', { username: 'admin@internal', password: engine.adminPassword }))
    .body.token;
  /** Runs an action and waits for its operation; returns the finished operation. */
  const act = async (id: string, action: string, body?: unknown): Promise<Json> => {
    const started = await api('POST', `/storage-domains/${id}/${action}`, body ?? {});
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const opId = started.body.operation.id as string;
    const end = Date.now() + 120_000;
    while (Date.now() < end) {
      const op = (await api('GET', `/operations/${opId}?wait=20`)).body;
      if (op.state === 'succeeded' || op.state === 'failed') return op;
    }
    throw new Error(`operation ${opId} did not finish`);
  };
  const localHost = async (): Promise<Json> => {
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      const up = ((await api('GET', '/hosts')).body.items as Json[]).find((h) => h.state === 'up');
      if (up) return up;
      await sleep(200);
    }
    throw new Error('the local host never came up');
  };
  return {
    engine,
    api,
    act,
    localHost,
    close: async () => {
      await dispatcher.close();
      await engine.stop();
      for (const pid of agentPids(path.join(dataDir, 'local-agent'))) process.kill(pid, 'SIGKILL');
    },
  };
}

describe('storage domains end to end (real engine, enrolled local agent)', () => {
  const dataDirs = [makeDataDir(), makeDataDir()];
  const storeDir = makeDataDir();
  const closers: (() => Promise<void>)[] = [];
  let first: Awaited<ReturnType<typeof allInOne>> | undefined;
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const d of [...dataDirs, storeDir]) await removeDataDir(d);
  });

  it('local data + posix ISO domains: attach, activate, capacity, ISO list, maintenance, detach, import elsewhere', async () => {
    await ensureAgentBinary();
    const a = await allInOne(dataDirs[0] as string);
    closers.push(a.close);
    first = a;
    const host = await a.localHost();
    const dc = ((await a.api('GET', '/datacenters')).body.items as Json[]).find(
      (d) => d.name === 'Default',
    ) as Json;

    // All-in-one: local-data and local-iso exist and are active before `ready at`.
    // Active before `ready at` on a normal start; a slow machine finishes the set-up just after.
    let builtIn: Json[] = [];
    const end = Date.now() + 120_000;
    while (Date.now() < end) {
      builtIn = (await a.api('GET', '/storage-domains?sort=name')).body.items as Json[];
      if (builtIn.length === 2 && builtIn.every((d) => d.state === 'active')) break;
      await sleep(250);
    }
    expect(builtIn.map((d) => [d.name, d.kind, d.state, d.host_id, d.datacenter_id])).toEqual([
      ['local-data', 'data', 'active', host.id, dc.id],
      ['local-iso', 'iso', 'active', host.id, dc.id],
    ]);
    expect(builtIn[0]?.total_bytes).toBeGreaterThan(0);

    const dataParent = path.join(storeDir, 'data');
    const isoParent = path.join(storeDir, 'isos');
    fs.mkdirSync(isoParent); // posix: the administrator's mount, which must exist already
    const data = await a.api('POST', '/storage-domains', {
      name: 'e2e-data',
      kind: 'data',
      backend: 'local',
      host_id: host.id,
      path: dataParent,
    });
    expect(data.status, JSON.stringify(data.body)).toBe(201);
    const iso = await a.api('POST', '/storage-domains', {
      name: 'e2e-iso',
      kind: 'iso',
      backend: 'posix',
      path: isoParent,
    });
    expect(iso.status, JSON.stringify(iso.body)).toBe(201);
    const dataId = data.body.id as string;
    const isoId = iso.body.id as string;

    for (const id of [dataId, isoId]) {
      const attached = await a.act(id, 'attach', { datacenter_id: dc.id });
      expect(attached.state, JSON.stringify(attached.error)).toBe('succeeded');
      expect((await a.api('GET', `/storage-domains/${id}`)).body.state).toBe('maintenance');
    }
    // The agent wrote the layout and the metadata, naming this engine as owner.
    const md = JSON.parse(fs.readFileSync(path.join(dataParent, dataId, 'dom_md', 'metadata.json'), 'utf8'));
    expect(md).toMatchObject({ id: dataId, name: 'e2e-data', kind: 'data', format_version: 1 });
    expect(md.owner_engine_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fs.statSync(path.join(isoParent, isoId, 'images', 'iso')).isDirectory()).toBe(true);

    for (const id of [dataId, isoId]) {
      const activated = await a.act(id, 'activate');
      expect(activated.state, JSON.stringify(activated.error)).toBe('succeeded');
      const row = (await a.api('GET', `/storage-domains/${id}`)).body;
      expect(row.state).toBe('active');
      expect(row.total_bytes).toBeGreaterThan(0);
      expect(row.free_bytes).toBeGreaterThan(0);
      expect(row.free_bytes).toBeLessThanOrEqual(row.total_bytes);
      expect(Date.parse(row.capacity_checked_at)).toBeGreaterThan(Date.now() - 120_000);
    }

    fs.writeFileSync(path.join(isoParent, isoId, 'images', 'iso', 'installer.iso'), Buffer.alloc(4096));
    const isos = await a.api('GET', `/storage-domains/${isoId}/isos`);
    expect(isos.status, JSON.stringify(isos.body)).toBe(200);
    expect(isos.body.files).toEqual([expect.objectContaining({ name: 'installer.iso', size_bytes: 4096 })]);
    const notIso = await a.api('GET', `/storage-domains/${dataId}/isos`);
    expect(notIso.status).toBe(409);

    const attachedDelete = await a.api('DELETE', `/storage-domains/${dataId}`);
    expect(attachedDelete.status).toBe(409);
    expect(attachedDelete.body.error.code).toBe('storage_domain_attached');

    expect((await a.act(dataId, 'maintenance')).state).toBe('succeeded');
    expect((await a.api('GET', `/storage-domains/${dataId}`)).body.state).toBe('maintenance');
    // Listing ISOs needs the domain active on a host: in maintenance it is not.
    expect((await a.act(isoId, 'maintenance')).state).toBe('succeeded');
    expect((await a.api('GET', `/storage-domains/${isoId}/isos`)).body.error.code).toBe(
      'storage_domain_state_invalid',
    );

    const detached = await a.act(dataId, 'detach');
    expect(detached.state, JSON.stringify(detached.error)).toBe('succeeded');
    expect((await a.api('GET', `/storage-domains/${dataId}`)).body).toMatchObject({
      state: 'unattached',
      datacenter_id: null,
    });
    const released = JSON.parse(
      fs.readFileSync(path.join(dataParent, dataId, 'dom_md', 'metadata.json'), 'utf8'),
    );
    expect(released.owner_engine_id).toBeNull();

    const events = (await a.api('GET', `/events?limit=200`)).body.items as Json[];
    const kinds = events.filter((e) => e.object_id === dataId).map((e) => e.kind);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'storage_domain.created',
        'storage_domain.maintenance',
        'storage_domain.active',
        'storage_domain.unattached',
      ]),
    );

    // Another engine (fresh database, its own local host) imports the detached domain from storage.
    const b = await allInOne(dataDirs[1] as string);
    closers.push(b.close);
    const hostB = await b.localHost();
    const imported = await b.api('POST', '/storage-domains/import', {
      backend: 'local',
      path: dataParent,
      host_id: hostB.id,
    });
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);
    expect(imported.body.domains).toEqual([
      expect.objectContaining({
        id: dataId,
        name: 'e2e-data',
        kind: 'data',
        state: 'unattached',
        host_id: hostB.id,
      }),
    ]);
    const dcB = ((await b.api('GET', '/datacenters')).body.items as Json[]).find(
      (d) => d.name === 'Default',
    ) as Json;
    expect((await b.act(dataId, 'attach', { datacenter_id: dcB.id })).state).toBe('succeeded');
    const claimed = JSON.parse(
      fs.readFileSync(path.join(dataParent, dataId, 'dom_md', 'metadata.json'), 'utf8'),
    );
    expect(claimed.owner_engine_id).not.toBe(md.owner_engine_id);
    expect(claimed.owner_engine_id).toMatch(/^[0-9a-f-]{36}$/);

    // The first engine no longer owns it: re-attaching there is refused by the agent.
    const stolen = await a.act(dataId, 'attach', { datacenter_id: dc.id });
    expect(stolen.state).toBe('failed');
    expect(JSON.stringify(stolen.error)).toContain('storage_domain_foreign');
    expect((await a.api('GET', `/storage-domains/${dataId}`)).body.state).toBe('unattached');

    // A host that holds a local domain cannot be removed from under it.
    const maint = await b.api('POST', `/hosts/${hostB.id}/maintenance`);
    expect(maint.status, JSON.stringify(maint.body)).toBe(202);
    const mEnd = Date.now() + 120_000;
    while ((await b.api('GET', `/hosts/${hostB.id}`)).body.state !== 'maintenance') {
      if (Date.now() > mEnd) throw new Error('host b never reached maintenance');
      await sleep(250);
    }
    const removal = await b.api('DELETE', `/hosts/${hostB.id}`);
    expect(removal.status).toBe(409);
    expect(removal.body.error).toMatchObject({
      code: 'storage_domain_in_use',
      details: { blocking: expect.arrayContaining([expect.objectContaining({ id: dataId })]) },
    });
  }, 300_000);
  it('vireo storage-domain: list, create, attach, activate, isos, maintenance, detach, delete', async () => {
    const a = first;
    if (!a) throw new Error('the first test did not start the engine');
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-cli-sd-'));
    closers.push(async () => fs.rmSync(home, { recursive: true, force: true }));
    const cli = (args: string[]) => runCli(args, home, { timeoutMs: 120_000 });
    const login = await loginCli(home, a.engine);
    expect(login.code, login.stderr).toBe(0);

    const listed = await cli(['storage-domain', 'list', '--kind', 'iso', '-o', 'json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Json[]).map((d) => d.name)).toContain('local-iso');

    const dir = path.join(storeDir, 'cli-isos');
    fs.mkdirSync(dir);
    const created = await cli([
      'storage-domain',
      'create',
      'cli-iso',
      '--kind',
      'iso',
      '--path',
      dir,
      '-o',
      'json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const id = (JSON.parse(created.stdout) as Json).id as string;
    for (const step of [
      ['attach', 'cli-iso', 'Default'],
      ['activate', 'cli-iso'],
    ]) {
      const r = await cli(['storage-domain', ...step, '--wait', '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
    }
    fs.writeFileSync(path.join(dir, id, 'images', 'iso', 'tools.iso'), Buffer.alloc(2048));
    const isos = await cli(['sd', 'isos', 'cli-iso']);
    expect(isos.code, isos.stderr).toBe(0);
    expect(isos.stdout).toMatch(/^tools\.iso\s/m);
    const shown = await cli(['storage-domain', 'show', 'cli-iso', '-o', 'json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, state: 'active', kind: 'iso', backend: 'posix' });

    const refused = await cli(['storage-domain', 'delete', 'cli-iso']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('storage_domain_attached');
    for (const step of ['maintenance', 'detach']) {
      const r = await cli(['storage-domain', step, 'cli-iso', '--wait']);
      expect(r.code, r.stderr).toBe(0);
    }
    const deleted = await cli(['storage-domain', 'delete', 'cli-iso']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await a.api('GET', `/storage-domains/${id}`)).status).toBe(404);
  }, 300_000);
  it('a VM boots its CD-ROM from the local ISO domain; the domain cannot go to maintenance under it', async () => {
    const a = first;
    if (!a) throw new Error('the first test did not start the engine');
    assertTestGuestBuilt();
    const isoDomain = (
      (await a.api('GET', '/storage-domains?kind=iso&search=local-iso')).body.items as Json[]
    )[0] as Json;
    expect(isoDomain.state).toBe('active');
    const isoFile = path.join(isoDomain.path, isoDomain.id, 'images', 'iso', 'test-guest.iso');
    fs.copyFileSync(testGuest.iso, isoFile);
    const cluster = ((await a.api('GET', '/clusters')).body.items as Json[]).find(
      (c) => c.name === 'Default',
    ) as Json;
    const created = await a.api('POST', '/vms', {
      name: 'sd-cdrom-vm',
      cluster_id: cluster.id,
      cpus: 1,
      memory_mib: 128,
      boot_order: ['cdrom'],
      cdrom: { storage_domain_id: isoDomain.id, file: 'test-guest.iso' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const vmId = created.body.id as string;
    closers.push(() => killQemusOf([vmId]));
    const vmOp = async (action: string): Promise<Json> => {
      const r = await a.api('POST', `/vms/${vmId}/${action}`);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const end = Date.now() + 180_000;
      while (Date.now() < end) {
        const op = (await a.api('GET', `/operations/${r.body.operation.id}?wait=20`)).body;
        if (op.state === 'succeeded' || op.state === 'failed') return op;
      }
      throw new Error(`vm ${action} did not finish`);
    };
    const started = await vmOp('start');
    expect(started.state, JSON.stringify(started.error)).toBe('succeeded');
    const [pid] = await qemuPidsFor(vmId);
    expect(pid).toBeGreaterThan(0);
    // QEMU opened the file inside the domain (the agent allowed it because the domain is active).
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(isoFile);

    const busy = await a.api('POST', `/storage-domains/${isoDomain.id}/maintenance`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('storage_domain_in_use');

    expect((await vmOp('stop')).state).toBe('succeeded');
    const deleted = await a.api('DELETE', `/vms/${vmId}`);
    expect(deleted.status).toBe(202);
    fs.rmSync(isoFile);
  }, 300_000);
});
