import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary } from '../../../agent/test/support/binary';
import { type EngineProcess, startEngine } from '../../../../test/support/engine';
import { createTestNetns, type TestNetns } from '../../../../test/support/netns';
import { startSshd, type TestSshd } from './sshd';

// One namespace with a real sshd and one real engine listening on the root end of its veth: the
// deployed agent joins the engine through the same URL the test calls it with.
let ns: TestNetns;
let sshd: TestSshd;
let dir: string;
let engine: EngineProcess;
let dispatcher: Agent;
let token: string;
let clusterId: string;
let silent: Server | undefined;
const held: Socket[] = [];

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked by the assertions
type Json = any;

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(`${engine.url}/api/v1${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers as unknown as Headers,
    json: text ? JSON.parse(text) : null,
  };
}

/** Waits (long-polls) until the operation is no longer queued or running. */
async function finished(id: string): Promise<Json> {
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline) {
    const { json } = await call('GET', `/operations/${id}?wait=10`);
    if (!['queued', 'running'].includes(json.state)) return json;
  }
  throw new Error(`operation ${id} did not finish`);
}

/** True while any live process belongs to process group `pgid`. */
function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

const engineEnv = () => ({
  VIREO_LISTEN: `${ns.hostAddress}:0`,
  VIREO_HOST_HEARTBEAT_MS: '200',
  VIREO_LOCAL_HOST: '0',
  // Deploy into temp paths with a supervised process (no systemd here), TCG only.
  VIREO_DEPLOY_ROOT: join(dir, 'host'),
  VIREO_DEPLOY_SERVICE: 'process',
  VIREO_DEPLOY_NODE: process.execPath,
  VIREO_DEPLOY_ACCEL: 'tcg',
});

async function login(): Promise<void> {
  token = '';
  const login = await call('POST', '/auth/login', {
    username: 'admin@internal',
    password: engine.adminPassword,
  });
  token = login.json.token;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vireo-http-deploy-'));
  ns = await createTestNetns('hdep');
  sshd = await startSshd(ns, dir);
  await ensureAgentBinary();
  engine = await startEngine({ env: engineEnv() });
  dispatcher = new Agent({ connect: { ca: engine.caPem } });
  await login();
  const clusters = await call('GET', '/clusters');
  clusterId = clusters.json.items.find((c: { name: string }) => c.name === 'Default').id;
}, 120_000);

afterAll(async () => {
  // The deployed agent's supervisor leads its own process group: end it, and wait until it is gone.
  const pgid = Number(
    (await readFile(join(dir, 'host', 'run', 'vireo-agent.pid'), 'utf8').catch(() => '')).trim(),
  );
  if (pgid > 0) {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      // already gone
    }
    for (let i = 0; i < 100 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
  }
  silent?.close();
  for (const socket of held) socket.destroy();
  await dispatcher?.close();
  await engine?.stop();
  await sshd?.stop();
  await ns?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('POST /hosts with ssh: the engine deploys the agent and enrolls the host', () => {
  it('refuses a wrong password: install_failed, and the deploy log never shows the password', async () => {
    const password = 'wrong-Pass-7731-xyz';
    const res = await call('POST', '/hosts', {
      name: 'pw-host',
      address: ns.nsAddress,
      cluster_id: clusterId,
      ssh: { user: 'root', password, host_key_sha256: sshd.hostKeySha256 },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/operations/${res.json.operation.id}`);
    expect(JSON.stringify(res.json)).not.toContain(password);
    const op = await finished(res.json.operation.id);
    expect(op.state).toBe('failed');
    expect(op.error.code).toBe('ssh_auth_failed');
    expect(JSON.stringify(op)).not.toContain(password);

    const hostId = op.target.id;
    const host = await call('GET', `/hosts/${hostId}`);
    expect(host.json).toMatchObject({ name: 'pw-host', state: 'install_failed' });
    const log = await call('GET', `/hosts/${hostId}/deploy-log`);
    expect(log.status).toBe(200);
    expect(log.json.lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(log.json)).toMatch(/connecting to root@/);
    expect(JSON.stringify(log.json)).not.toContain(password);
    expect(engine.stderr()).not.toContain(password);

    // A failed install can be removed at once (it never ran VMs), freeing the name for a retry.
    expect((await call('DELETE', `/hosts/${hostId}`)).status).toBe(204);
    expect((await call('GET', `/hosts/${hostId}`)).status).toBe(404);
  }, 60_000);

  it('refuses a request with both a password and a key, before creating anything', async () => {
    const res = await call('POST', '/hosts', {
      name: 'both-host',
      address: ns.nsAddress,
      cluster_id: clusterId,
      ssh: { user: 'root', password: 'x', private_key: sshd.clientKey },
    });
    expect(res.status).toBe(400);
    const hosts = await call('GET', '/hosts');
    expect(hosts.json.items.map((h: { name: string }) => h.name)).not.toContain('both-host');
  });

  it('installs over SSH, joins as the pre-created host, pins the host key and ends up', async () => {
    const res = await call('POST', '/hosts', {
      name: 'ssh-host',
      address: ns.nsAddress,
      cluster_id: clusterId,
      ssh: { user: 'root', private_key: sshd.clientKey },
    });
    expect(res.status).toBe(202);
    const hostId = res.json.operation.target.id;
    expect(JSON.stringify(res.json.operation)).not.toContain('PRIVATE KEY');
    const installing = await call('GET', `/hosts/${hostId}`);
    expect(['installing', 'connecting', 'up']).toContain(installing.json.state);

    const op = await finished(res.json.operation.id);
    expect(op.error ?? null, JSON.stringify(op.error)).toBeNull();
    expect(op.state).toBe('succeeded');
    // The seal appliance (this checkout's, found beside the agent bundle) went with the agent.
    expect(op.result).toMatchObject({
      host_id: hostId,
      host_key_sha256: sshd.hostKeySha256,
      seal_appliance: 'installed',
    });

    // The join used the row POST /hosts made: one host of that name, up, at the given address.
    const hosts = await call('GET', '/hosts');
    const named = hosts.json.items.filter((h: { name: string }) => h.name === 'ssh-host');
    expect(named).toHaveLength(1);
    expect(named[0]).toMatchObject({ id: hostId, address: ns.nsAddress, state: 'up' });
    expect(named[0].capabilities.storage.seal).toEqual({
      available: true,
      reason: `seal appliance in ${join(dir, 'host', 'opt', 'seal-appliance')}`,
    });
    const log = await call('GET', `/hosts/${hostId}/deploy-log`);
    expect(JSON.stringify(log.json)).toContain('deploy finished');
    expect(JSON.stringify(log.json)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(log.json)).not.toContain('vjt_');
  }, 180_000);

  it('a deploy cut short by an engine crash fails with engine_restarted and leaves the host install_failed', async () => {
    // An SSH port that accepts and never speaks: the deploy is surely still running at the kill.
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent?.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const res = await call('POST', '/hosts', {
      name: 'crash-host',
      address: '127.0.0.1',
      cluster_id: clusterId,
      ssh: { user: 'root', password: 'never-Sent-4411', port },
    });
    expect(res.status).toBe(202);
    const opId = res.json.operation.id;
    const hostId = res.json.operation.target.id;
    const deadline = Date.now() + 20_000;
    while (held.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(held.length).toBeGreaterThan(0);

    engine = await engine.restart('SIGKILL', { env: engineEnv() });
    await dispatcher.close();
    dispatcher = new Agent({ connect: { ca: engine.caPem } });
    await login();
    // The dead engine's lease runs out, then the sweep fails the operation and the host.
    const op = await finished(opId);
    expect(op.state).toBe('failed');
    expect(op.error.code).toBe('engine_restarted');
    const until = Date.now() + 30_000;
    let host = await call('GET', `/hosts/${hostId}`);
    while (host.json.state !== 'install_failed' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      host = await call('GET', `/hosts/${hostId}`);
    }
    expect(host.json).toMatchObject({ state: 'install_failed' });
    expect(host.json.state_reason).toMatch(/engine restarted/);
  }, 180_000);
});
