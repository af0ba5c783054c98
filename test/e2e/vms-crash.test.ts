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
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';
import { freePort } from '../support/net';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

/**
 * Crashes around running VMs, with real processes: the engine binary (embedded PostgreSQL, HTTPS),
 * an agent enrolled by join token, QEMU (TCG) booting the test guest's ISO. The agent or the engine
 * is SIGKILLed and started again; the engine must converge on the agent's truth without a second QEMU.
 */
describe('VMs through crashes (engine + agent + QEMU)', () => {
  let engine: EngineProcess | undefined;
  let agent: AgentProcess | undefined;
  let dir: string;
  let dispatcher: Agent;
  let adminToken: string;
  let clusterId: string;
  let hostId: string;
  let agentArgs: string[];
  const vmIds: string[] = [];
  const savedImageDirs = process.env.VIREO_AGENT_IMAGE_DIRS;
  const engineEnv = {
    VIREO_HOST_HEARTBEAT_MS: '200',
    VIREO_HOST_HEARTBEAT_TIMEOUT_MS: '1000',
    VIREO_HOST_GRACE_MS: '1500',
    VIREO_ISO_DIR: testGuest.dir,
  };

  const call = async (method: string, p: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${adminToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${engine!.url}/api/v1${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const login = async () => {
    const res = await fetch(`${engine!.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin@internal', password: engine!.adminPassword }),
      dispatcher,
    });
    adminToken = ((await res.json()) as Json).token;
  };
  /** Polls `fn` until it returns a value; fails with the last value seen. */
  const until = async <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(150);
    }
  };
  const vmState = async (id: string) => (await call('GET', `/vms/${id}`)).json;
  const hostState = async () => (await call('GET', `/hosts/${hostId}`)).json.state as string;
  const createVm = async (name: string) => {
    const created = await call('POST', '/vms', {
      name,
      cluster_id: clusterId,
      cpus: 1,
      memory_mib: 128,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
      nics: [{ type: 'user' }],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmIds.push(created.json.id);
    return created.json.id as string;
  };
  const finish = async (opId: string, timeoutS = 60) =>
    (await call('GET', `/operations/${opId}?wait=${timeoutS}`)).json;

  beforeAll(async () => {
    assertTestGuestBuilt();
    await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'vireo-vms-crash-'));
    const port = await freePort();
    engine = await startEngine({ env: engineEnv });
    dispatcher = new Agent({ connect: { ca: engine.caPem } });
    await login();
    clusterId = (await call('GET', '/clusters')).json.items.find((c: Json) => c.name === 'Default').id;
    const token = await call('POST', '/hosts/join-tokens', { cluster_id: clusterId });
    const tokenFile = join(dir, 'join-token');
    fs.writeFileSync(tokenFile, token.json.token, { mode: 0o600 });
    const common = ['--state-dir', dir, '--listen', `127.0.0.1:${port}`];
    const out = await runAgentCommand([
      'join',
      '--engine',
      engine.url,
      '--token-file',
      tokenFile,
      '--ca-fingerprint',
      token.json.ca_fingerprint,
      '--address',
      '127.0.0.1',
      '--name',
      'crash-host',
      ...common,
    ]);
    hostId = /joined as host ([0-9a-f-]{36})/.exec(out)![1]!;
    process.env.VIREO_AGENT_IMAGE_DIRS = testGuest.dir;
    agentArgs = [...common, '--accel', 'tcg'];
    agent = await spawnAgent(agentArgs);
    await until('the host up', async () => ((await hostState()) === 'up' ? true : undefined));
  }, 120_000);

  afterAll(async () => {
    // Best effort: never leave a QEMU behind, whatever failed above.
    await killQemusOf(vmIds);
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    if (savedImageDirs === undefined) delete process.env.VIREO_AGENT_IMAGE_DIRS;
    else process.env.VIREO_AGENT_IMAGE_DIRS = savedImageDirs;
    await dispatcher?.close();
    await engine?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('agent SIGKILLed under a running VM: host non_responsive and VM unknown, then both up again with the same single QEMU', async () => {
    const vmId = await createVm('crash-agent');
    const start = await call('POST', `/vms/${vmId}/start`);
    expect(start.status, JSON.stringify(start.json)).toBe(202);
    const op = await finish(start.json.operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect((await vmState(vmId)).state).toBe('up');
    const before = await qemuPidsFor(vmId);
    expect(before).toHaveLength(1);

    await stopProcess(agent!.proc, 'SIGKILL');
    agent = undefined;
    await until('the host non_responsive', async () =>
      (await hostState()) === 'non_responsive' ? true : undefined,
    );
    const lost = await until('the VM unknown', async () => {
      const vm = await vmState(vmId);
      return vm.state === 'unknown' ? vm : undefined;
    });
    expect(lost.host_id).toBe(hostId);
    // QEMU does not depend on the agent: the guest kept running meanwhile.
    expect(await qemuPidsFor(vmId)).toEqual(before);

    agent = await spawnAgent(agentArgs);
    await until('the host up again', async () => ((await hostState()) === 'up' ? true : undefined));
    await until('the VM up again', async () => ((await vmState(vmId)).state === 'up' ? true : undefined));
    expect(await qemuPidsFor(vmId)).toEqual(before);

    const shut = await call('POST', `/vms/${vmId}/stop`);
    expect(shut.status, JSON.stringify(shut.json)).toBe(202);
    const stopped = await finish(shut.json.operation.id);
    expect(stopped.state, JSON.stringify(stopped.error)).toBe('succeeded');
    expect((await vmState(vmId)).state).toBe('down');
    await until('QEMU gone', async () => ((await qemuPidsFor(vmId)).length === 0 ? true : undefined), 15_000);
  }, 150_000);

  it('engine SIGKILLed right after a vm.start was accepted: after a restart the operation ends with a reason and the VM matches the agent', async () => {
    const vmId = await createVm('crash-engine');
    const start = await call('POST', `/vms/${vmId}/start`);
    expect(start.status, JSON.stringify(start.json)).toBe(202);
    const opId: string = start.json.operation.id;
    engine = await engine!.restart('SIGKILL', { env: engineEnv });
    await login();
    await until('the host up after the restart', async () =>
      (await hostState()) === 'up' ? true : undefined,
    );

    // Either the new engine claims it (still pending at the kill), or the lease sweep handles it once
    // the dead engine's lease (30 s by default) expires: vm.start is resumed, a non-resumable type fails.
    const op = await until(
      'the operation to finish',
      async () => {
        const o = (await call('GET', `/operations/${opId}`)).json;
        return o.state === 'succeeded' || o.state === 'failed' ? o : undefined;
      },
      90_000,
    );
    if (op.state === 'failed') expect(op.error.code, JSON.stringify(op.error)).toMatch(/^[a-z_]+$/);

    // The agent's truth: QEMU runs or it does not; the engine's view must settle on the same.
    await until(
      'the VM state to match QEMU',
      async () => {
        const pids = await qemuPidsFor(vmId);
        const state = (await vmState(vmId)).state;
        if (pids.length > 1) throw new Error(`two QEMUs for ${vmId}: ${pids.join(', ')}`);
        if (pids.length === 1 && state === 'up') return true;
        if (pids.length === 0 && state === 'down') return true;
        return undefined;
      },
      30_000,
    );
    expect((await qemuPidsFor(vmId)).length).toBeLessThanOrEqual(1);

    if ((await qemuPidsFor(vmId)).length === 1) {
      const stop = await call('POST', `/vms/${vmId}/stop`);
      expect(stop.status, JSON.stringify(stop.json)).toBe(202);
      expect((await finish(stop.json.operation.id)).state).toBe('succeeded');
      await until(
        'QEMU gone',
        async () => ((await qemuPidsFor(vmId)).length === 0 ? true : undefined),
        15_000,
      );
    }
  }, 200_000);
});
