import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary } from '../../packages/agent/test/support/binary';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import { tapName } from '../../packages/engine/src/domain/vm/spec';
import { type EngineProcess, startEngine } from '../support/engine';
import { freePort } from '../support/net';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

const tag = process.pid.toString(36);
// Named uniquely, no addresses, IPv6 off and never up: the bridge carries no traffic at all.
const BRIDGE = `vbe${tag}`.slice(0, 15);

const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);
const masterOf = (name: string) => {
  try {
    return basename(readlinkSync(`/sys/class/net/${name}/master`));
  } catch {
    return undefined;
  }
};

/**
 * A VM NIC on an existing host bridge, through the whole stack: API → engine → agent (tap made a
 * port of the bridge) → QEMU (TCG); stop removes the tap. A bridge the host lacks fails the start
 * with a coded reason and leaves nothing behind.
 */
describe('VMs: NIC on an existing bridge (engine + local agent + QEMU)', () => {
  let engine: EngineProcess | undefined;
  let dispatcher: Agent;
  let token: string;
  let clusterId: string;
  const vmIds: string[] = [];

  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${engine!.url}/api/v1${p}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const act = async (vmId: string, action: string) => {
    const started = await call('POST', `/vms/${vmId}/${action}`, {});
    expect(started.status, JSON.stringify(started.json)).toBe(202);
    return (await call('GET', `/operations/${started.json.operation.id}?wait=60`)).json;
  };
  const createVm = async (name: string, bridge: string) => {
    const created = await call('POST', '/vms', {
      name,
      cluster_id: clusterId,
      memory_mib: 128,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
      nics: [{ bridge }],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmIds.push(created.json.id);
    return created.json.id as string;
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    await ensureAgentBinary();
    execFileSync('ip', ['link', 'add', 'name', BRIDGE, 'type', 'bridge']);
    writeFileSync(`/proc/sys/net/ipv6/conf/${BRIDGE}/disable_ipv6`, '1');
    engine = await startEngine({
      env: {
        VIREO_LOCAL_HOST: '1',
        VIREO_LOCAL_AGENT_PORT: String(await freePort()),
        VIREO_LOCAL_AGENT_ACCEL: 'tcg',
        VIREO_ISO_DIR: testGuest.dir,
        VIREO_HOST_HEARTBEAT_MS: '500',
      },
      // Generous: on a loaded machine the first start (PostgreSQL initdb, agent) takes long.
      timeoutMs: 120_000,
    });
    dispatcher = new Agent({ connect: { ca: engine.caPem } });
    token = (
      await call('POST', '/auth/login', { username: 'admin@internal', password: engine.adminPassword })
    ).json.token;
    clusterId = (await call('GET', '/clusters')).json.items.find((c: Json) => c.name === 'Default').id;
    const end = Date.now() + 120_000;
    while ((await call('GET', '/hosts')).json.items[0]?.state !== 'up') {
      if (Date.now() > end) throw new Error('the local host never came up');
      await sleep(200);
    }
  }, 300_000);

  afterAll(async () => {
    await dispatcher?.close();
    await engine?.stop();
    // Best effort whatever failed above: no QEMU, tap or bridge is left behind.
    await killQemusOf(vmIds);
    for (const link of [...vmIds.map((id) => tapName(id, 0)), BRIDGE]) {
      if (linkExists(link)) execFileSync('ip', ['link', 'delete', 'dev', link]);
    }
  });

  it('starts with the tap as a port of the bridge; stop removes the tap', async () => {
    const vmId = await createVm('on-bridge', BRIDGE);
    const tap = tapName(vmId, 0);
    const started = await act(vmId, 'start');
    expect(started.state, JSON.stringify(started.error)).toBe('succeeded');
    expect((await call('GET', `/vms/${vmId}`)).json.state).toBe('up');
    expect(await qemuPidsFor(vmId)).toHaveLength(1);
    expect(masterOf(tap)).toBe(BRIDGE);
    expect(existsSync(`/sys/class/net/${BRIDGE}/brif/${tap}`)).toBe(true);

    const stopped = await act(vmId, 'stop');
    expect(stopped.state, JSON.stringify(stopped.error)).toBe('succeeded');
    expect(await qemuPidsFor(vmId)).toEqual([]);
    expect(linkExists(tap)).toBe(false);
    expect(linkExists(BRIDGE)).toBe(true);
  }, 120_000);

  it('a bridge the host does not have fails the start with bridge_not_found; nothing is left', async () => {
    const missing = `nob${tag}`.slice(0, 15);
    const vmId = await createVm('no-bridge', missing);
    const started = await act(vmId, 'start');
    expect(started.state).toBe('failed');
    expect(JSON.stringify(started.error)).toContain('bridge_not_found');
    expect(JSON.stringify(started.error)).toContain(missing);
    expect(await qemuPidsFor(vmId)).toEqual([]);
    expect(linkExists(tapName(vmId, 0))).toBe(false);
  }, 120_000);
});
