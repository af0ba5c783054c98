import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
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
import { guestShell, killQemusOf, qemuPidsFor, waitForText } from '../../packages/agent/test/support/guest';
import { runCli } from '../cli/support/cli';
import { type EngineProcess, startEngine } from '../support/engine';
import { freePort } from '../support/net';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;
const MiB = 1024 ** 2;

/**
 * Encrypted disks end to end: the API creates a disk with `encrypted: true`, the engine keeps its
 * key wrapped under the master key, the agent creates a LUKS-in-qcow2 volume and hands the key to
 * QEMU at each start through a 0600 file. The guest's bytes survive a restart (the key unwraps
 * again) and never appear in the volume file.
 */
describe('encrypted disks end to end (engine + agent + QEMU)', () => {
  let engine: EngineProcess | undefined;
  let agent: AgentProcess | undefined;
  let dir: string;
  let dispatcher: Agent;
  let token: string;
  let hostId: string;
  let domain = { id: '', parent: '' };
  let vmId: string | undefined;
  const savedImageDirs = process.env.VIREO_AGENT_IMAGE_DIRS;

  const call = async (method: string, p: string, body?: unknown) => {
    const h: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(`${engine!.url}/api/v1${p}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const until = async (what: string, fn: () => Promise<boolean>, timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await fn()) return;
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const settled = async (res: { status: number; json: Json }, waitS = 90) => {
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    const end = Date.now() + waitS * 1000;
    let op: Json;
    do {
      op = (await call('GET', `/operations/${res.json.operation.id}?wait=30`)).json;
    } while ((op.state === 'pending' || op.state === 'running') && Date.now() < end);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    return op;
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'vireo-enc-'));
    const port = await freePort();
    engine = await startEngine({ env: { VIREO_HOST_HEARTBEAT_MS: '300', VIREO_ISO_DIR: testGuest.dir } });
    dispatcher = new Agent({ connect: { ca: engine.caPem } });
    const login = await fetch(`${engine.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin@internal', password: engine.adminPassword }),
      dispatcher,
    });
    token = ((await login.json()) as Json).token;
    const cluster = (await call('GET', '/clusters')).json.items.find((c: Json) => c.name === 'Default');
    const join_ = await call('POST', '/hosts/join-tokens', { cluster_id: cluster.id });
    const tokenFile = join(dir, 'join-token');
    fs.writeFileSync(tokenFile, join_.json.token, { mode: 0o600 });
    const common = ['--state-dir', dir, '--listen', `127.0.0.1:${port}`];
    const out = await runAgentCommand([
      'join',
      '--engine',
      engine.url,
      '--token-file',
      tokenFile,
      '--ca-fingerprint',
      join_.json.ca_fingerprint,
      '--address',
      '127.0.0.1',
      '--name',
      'enc-host',
      ...common,
    ]);
    hostId = /joined as host ([0-9a-f-]{36})/.exec(out)![1]!;
    process.env.VIREO_AGENT_IMAGE_DIRS = testGuest.dir;
    agent = await spawnAgent([...common, '--accel', 'tcg']);
    await until('the host up', async () => (await call('GET', `/hosts/${hostId}`)).json.state === 'up');
    const parent = join(dir, 'data');
    fs.mkdirSync(parent);
    const sd = await call('POST', '/storage-domains', {
      name: 'enc-data',
      kind: 'data',
      backend: 'local',
      host_id: hostId,
      path: parent,
    });
    expect(sd.status, JSON.stringify(sd.json)).toBe(201);
    domain = { id: sd.json.id, parent };
    await settled(
      await call('POST', `/storage-domains/${sd.json.id}/attach`, { datacenter_id: cluster.datacenter_id }),
    );
    await settled(await call('POST', `/storage-domains/${sd.json.id}/activate`, {}));
    await until(
      'domain active',
      async () => (await call('GET', `/storage-domains/${sd.json.id}`)).json.state === 'active',
    );
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    if (savedImageDirs === undefined) delete process.env.VIREO_AGENT_IMAGE_DIRS;
    else process.env.VIREO_AGENT_IMAGE_DIRS = savedImageDirs;
    await dispatcher?.close();
    await engine?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an encrypted disk holds only ciphertext, opens again after a restart, and refuses what it cannot do yet', async () => {
    const raw = await call('POST', '/disks', {
      name: 'bad',
      storage_domain_id: domain.id,
      size_bytes: 64 * MiB,
      format: 'raw',
      encrypted: true,
    });
    expect(raw.status).toBe(400);
    expect(raw.json.error.code).toBe('invalid_input');

    // Through the CLI: vireo disk create --encrypted.
    const home = join(dir, 'cli-home');
    fs.mkdirSync(home);
    const cli = (args: string[], input?: string) => runCli(args, home, input === undefined ? {} : { input });
    const login = await cli(
      [
        'login',
        engine!.url,
        '-u',
        'admin@internal',
        '--password-stdin',
        '--accept-ca-fingerprint',
        new X509Certificate(engine!.caPem).fingerprint256,
      ],
      `${engine!.adminPassword}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    const made = await cli([
      'disk',
      'create',
      'secret1',
      '--storage-domain',
      'enc-data',
      '--size',
      '64M',
      '--encrypted',
      '--wait',
      '-o',
      'json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const diskId = JSON.parse(made.stdout).id as string;
    expect((await call('GET', `/disks/${diskId}`)).json).toMatchObject({ encrypted: true, state: 'ok' });
    const diskDir = join(domain.parent, domain.id, 'images', diskId);
    const [volume] = fs.readdirSync(diskDir).map((f) => join(diskDir, f));
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', volume as string], {
        encoding: 'utf8',
      }),
    );
    expect(info.encrypted).toBe(true);
    // The master key exists, owner-only, in the engine's secrets directory.
    const master = fs.statSync(join(engine!.dataDir, 'secrets', 'disk-master.key'));
    expect(master.mode & 0o777).toBe(0o600);

    const created = await call('POST', '/vms', {
      name: 'enc-vm',
      cluster_id: (await call('GET', '/clusters')).json.items[0].id,
      memory_mib: 256,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmId = created.json.id as string;
    // The VM is down: the attachment is immediate, the next start gives QEMU the disk.
    const plug = await call('POST', `/vms/${vmId}/disk-attachments`, { disk_id: diskId });
    expect(plug.status, JSON.stringify(plug.json)).toBe(201);
    // Copies and snapshots would write unencrypted volumes: refused for now.
    const copy = await call('POST', `/disks/${diskId}/copy`, { storage_domain_id: domain.id, name: 'c1' });
    expect(copy.json.error?.code, JSON.stringify(copy.json)).toBe('disk_in_use');
    const snap = await call('POST', `/vms/${vmId}/snapshots`, { description: 'x' });
    expect(snap.json.error?.code, JSON.stringify(snap.json)).toBe('snapshot_busy');

    const serialLog = join(dir, 'vms', vmId, 'serial.log');
    const serialSocket = join(dir, 'vms', vmId, 'serial.sock');
    await settled(await call('POST', `/vms/${vmId}/start`));
    const [pid] = await qemuPidsFor(vmId);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.some((a) => a.includes(`encrypt.key-secret=key-${diskId}`))).toBe(true);
    // Only a file path for the secret, never its value (data=).
    expect(cmdline.filter((a) => a.startsWith('secret,') && a.includes('data='))).toEqual([]);
    const keyFiles = fs.readdirSync(join(dir, 'vms', vmId), { recursive: true }).map(String);
    expect(keyFiles.filter((f) => f.endsWith('.key'))).toEqual([]);

    await waitForText(serialLog, testGuest.marker, 120_000);
    const marker = `VIREO-SECRET-${Date.now().toString(36)}`;
    const wrote = await guestShell(
      serialSocket,
      `printf '${marker}' | dd of=/dev/vda bs=512 conv=fsync 2>/dev/null; head -c ${marker.length} /dev/vda`,
      60_000,
    );
    expect(wrote).toContain(marker);
    await settled(await call('POST', `/vms/${vmId}/stop`));
    await until('QEMU gone', async () => (await qemuPidsFor(vmId as string)).length === 0, 15_000);
    expect(fs.readFileSync(volume as string).includes(marker)).toBe(false);

    // A second start unwraps the key again; the guest reads back what it wrote.
    await settled(await call('POST', `/vms/${vmId}/start`));
    await waitForText(serialLog, testGuest.marker, 120_000);
    expect(await guestShell(serialSocket, `head -c ${marker.length} /dev/vda`, 60_000)).toContain(marker);
    await settled(await call('POST', `/vms/${vmId}/stop`));
    await until('QEMU gone', async () => (await qemuPidsFor(vmId as string)).length === 0, 15_000);
    await settled(await call('DELETE', `/vms/${vmId}`));
    vmId = undefined;

    // No disk key in any log: a key is 32 bytes, i.e. 43 base64 characters and one '='.
    const keyShape = /[A-Za-z0-9+/]{43}=/;
    expect(keyShape.test(randomBytes(32).toString('base64'))).toBe(true);
    const logs = [engine!.stdout(), engine!.stderr(), agent!.stderr()].join('\n');
    expect(logs).toContain(diskId);
    expect(logs.match(keyShape)).toBeNull();
  }, 400_000);
});
