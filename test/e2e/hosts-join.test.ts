import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from '../../packages/agent/test/support/binary';
import { type EngineProcess, startEngine } from '../support/engine';
import { freePort } from '../support/net';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

/**
 * Join-token enrollment and host monitoring with real processes: the engine binary (embedded
 * PostgreSQL, HTTPS), `vireo-agent join` and `vireo-agent serve`, mTLS between them.
 */
describe('hosts: join token enrollment and monitoring (engine + agent processes)', () => {
  let engine: EngineProcess | undefined;
  let agent: AgentProcess | undefined;
  let dir: string;
  let dispatcher: Agent;
  let adminToken: string;
  let clusterId: string;
  let port: number;
  let hostId: string;

  const call = async (method: string, p: string, body?: unknown, auth = true) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) headers.authorization = `Bearer ${adminToken}`;
    const res = await fetch(`${engine!.url}/api/v1${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
  };

  const waitForHost = async (predicate: (h: Json) => boolean, what: string, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    let last: Json | undefined;
    while (Date.now() < end) {
      last = (await call('GET', `/hosts/${hostId}`)).json;
      if (predicate(last)) return last;
      await sleep(100);
    }
    throw new Error(`host never became ${what}; last: ${JSON.stringify(last)}`);
  };

  const serveArgs = () => ['--state-dir', dir, '--listen', `127.0.0.1:${port}`, '--accel', 'tcg'];

  beforeAll(async () => {
    await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'vireo-hosts-'));
    port = await freePort();
    engine = await startEngine({
      env: {
        VIREO_HOST_HEARTBEAT_MS: '200',
        VIREO_HOST_HEARTBEAT_TIMEOUT_MS: '1000',
        VIREO_HOST_GRACE_MS: '1500',
      },
    });
    dispatcher = new Agent({ connect: { ca: engine.caPem } });
    const login = await call(
      'POST',
      '/auth/login',
      { username: 'admin@internal', password: engine.adminPassword },
      false,
    );
    adminToken = login.json.token;
    const clusters = await call('GET', '/clusters');
    clusterId = clusters.json.items.find((c: Json) => c.name === 'Default').id;
  }, 120_000);

  afterAll(async () => {
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    await dispatcher?.close();
    await engine?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('enrolls an agent with a join token; the engine connects over mTLS and the host goes up', async () => {
    const created = await call('POST', '/hosts/join-tokens', { cluster_id: clusterId });
    expect(created.status).toBe(201);
    const tokenFile = join(dir, 'join-token');
    fs.writeFileSync(tokenFile, created.json.token, { mode: 0o600 });

    // A wrong CA fingerprint is refused before anything is sent.
    await expect(
      runAgentCommand([
        'join',
        '--engine',
        engine!.url,
        '--token-file',
        tokenFile,
        '--ca-fingerprint',
        'AA:BB',
        '--address',
        '127.0.0.1',
        '--name',
        'local',
        '--state-dir',
        dir,
        '--listen',
        `127.0.0.1:${port}`,
      ]),
    ).rejects.toThrow(/fingerprint/);

    const out = await runAgentCommand([
      'join',
      '--engine',
      engine!.url,
      '--token-file',
      tokenFile,
      '--ca-fingerprint',
      created.json.ca_fingerprint,
      '--address',
      '127.0.0.1',
      '--name',
      'local',
      '--state-dir',
      dir,
      '--listen',
      `127.0.0.1:${port}`,
    ]);
    hostId = /joined as host ([0-9a-f-]{36})/.exec(out)![1]!;
    expect(fs.statSync(join(dir, 'tls', 'agent-key.pem')).mode & 0o777).toBe(0o600);

    agent = await spawnAgent(serveArgs());
    const host = await waitForHost((h) => h.state === 'up' && h.stats !== null, 'up with stats');
    expect(host).toMatchObject({ name: 'local', address: '127.0.0.1', port, cluster_id: clusterId });
    expect(host.capabilities).not.toBeNull();
    expect(host.agent_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(host.certificate.not_after > new Date().toISOString()).toBe(true);
    const list = await call('GET', `/hosts?cluster_id=${clusterId}`);
    expect(list.json.items.map((h: Json) => h.id)).toContain(hostId);
  }, 90_000);

  it('refuses a reused and an expired join token with join_token_invalid', async () => {
    const publicKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const join1 = (token: string, name: string) =>
      call('POST', '/hosts/join', { token, name, address: '127.0.0.2', public_key: publicKey }, false);

    const t = (await call('POST', '/hosts/join-tokens', { cluster_id: clusterId })).json.token;
    expect((await join1(t, 'once')).status).toBe(201);
    const reused = await join1(t, 'twice');
    expect(reused.status).toBe(401);
    expect(reused.json.error).toMatchObject({ code: 'join_token_invalid', details: { reason: 'used' } });

    const short = (await call('POST', '/hosts/join-tokens', { cluster_id: clusterId, ttl_s: 1 })).json.token;
    await sleep(1100);
    const expired = await join1(short, 'late');
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatchObject({ code: 'join_token_invalid', details: { reason: 'expired' } });

    const bogus = await join1('vjt_this-token-was-never-issued', 'nobody');
    expect(bogus.json.error).toMatchObject({ code: 'join_token_invalid', details: { reason: 'unknown' } });
  }, 30_000);

  it('SIGKILLed agent: up → connecting → non_responsive; restarted agent: up again, each step audited', async () => {
    expect(await stopProcess(agent!.proc, 'SIGKILL')).toBe('SIGKILL');
    agent = undefined;
    const down = await waitForHost((h) => h.state === 'non_responsive', 'non_responsive');
    expect(down.state_reason).toMatch(/not answered/);

    agent = await spawnAgent(serveArgs());
    await waitForHost((h) => h.state === 'up', 'up again');

    const events = await call('GET', `/events?object_id=${hostId}&kind=host.state_changed&limit=50`);
    const path = events.json.items.map((e: Json) => e.details.to).reverse();
    expect(path).toEqual(expect.arrayContaining(['up', 'connecting', 'non_responsive']));
    const lastUp = path.lastIndexOf('up');
    expect(path.indexOf('non_responsive')).toBeLessThan(lastUp);
  }, 60_000);

  it('maintenance (an operation), activate and removal', async () => {
    expect((await call('DELETE', `/hosts/${hostId}`)).json.error.code).toBe('host_not_in_maintenance');
    const m = await call('POST', `/hosts/${hostId}/maintenance`);
    expect(m.status).toBe(202);
    expect(m.json.operation).toMatchObject({
      type: 'host.maintenance',
      target: { kind: 'host', id: hostId },
    });
    const done = await call('GET', `/operations/${m.json.operation.id}?wait=20`);
    expect(done.json).toMatchObject({
      state: 'succeeded',
      result: { state: 'maintenance', vms_checked: true },
    });
    // A heartbeat must not take a host out of maintenance.
    await sleep(500);
    expect((await call('GET', `/hosts/${hostId}`)).json.state).toBe('maintenance');
    expect((await call('POST', `/hosts/${hostId}/activate`)).json.state).toBe('up');
    const again = await call('POST', `/hosts/${hostId}/maintenance`);
    await call('GET', `/operations/${again.json.operation.id}?wait=20`);
    expect((await call('DELETE', `/hosts/${hostId}`)).status).toBe(204);
    expect((await call('GET', `/hosts/${hostId}`)).status).toBe(404);
  }, 60_000);
});
