import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineProcess } from '../support/engine';
import { type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';

/** Opens the engine's console WebSocket; resolves with the socket, or rejects with the HTTP status. */
function openConsole(url: string, ca: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, headers, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Collects a console's bytes until `pattern` appears. */
function readUntil(ws: WebSocket, test: (all: Buffer) => boolean, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let all = Buffer.alloc(0);
    const timer = setTimeout(() => {
      ws.off('message', onData);
      reject(new Error(`console: timed out; got ${JSON.stringify(all.toString('latin1').slice(-300))}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      all = Buffer.concat([all, d]);
      if (test(all)) {
        clearTimeout(timer);
        ws.off('message', onData);
        resolve(all);
      }
    };
    ws.on('message', onData);
  });
}

/**
 * RFB "VNC authentication" response: the challenge DES-encrypted with the password (8 bytes, each
 * byte's bits reversed, as RFB specifies). DES is only in OpenSSL's legacy provider, so a child
 * Node with that provider computes it; the password goes through stdin, never argv.
 */
function vncAuthResponse(password: string, challenge: Buffer): Buffer {
  const script = `
    const c = require('node:crypto');
    const { key, challenge } = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    const d = c.createCipheriv('des-ecb', Buffer.from(key, 'hex'), null);
    d.setAutoPadding(false);
    process.stdout.write(Buffer.concat([d.update(Buffer.from(challenge, 'hex')), d.final()]).toString('hex'));`;
  const key = Buffer.alloc(8);
  Buffer.from(password, 'latin1').copy(key, 0, 0, 8);
  for (let i = 0; i < 8; i++) {
    let b = key[i] ?? 0;
    let r = 0;
    for (let bit = 0; bit < 8; bit++) {
      r = (r << 1) | (b & 1);
      b >>= 1;
    }
    key[i] = r;
  }
  const out = spawnSync(process.execPath, ['--openssl-legacy-provider', '-e', script], {
    input: JSON.stringify({ key: key.toString('hex'), challenge: challenge.toString('hex') }),
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(`DES helper failed: ${out.stderr}`);
  return Buffer.from(out.stdout, 'hex');
}

/**
 * A VM through the engine end to end: real engine binary (embedded PostgreSQL, HTTPS), a real agent
 * enrolled by join token, real QEMU (TCG) booting the test guest's ISO from the engine's ISO
 * directory, with a blank qcow2 disk in a local data domain, created on the VM's first start.
 */
describe('VMs end to end (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let dir: string;
  let clusterId: string;
  let hostId: string;
  let vmId: string;
  let dataParent: string;
  let domainId: string;
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  /** Runs an action and waits for its operation to finish. */
  const act = async (action: string) => {
    const res = await call('POST', `/vms/${vmId}/${action}`);
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    const op = await call('GET', `/operations/${res.json.operation.id}?wait=60`);
    return op.json;
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-vms-',
      hostName: 'vm-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir, VIREO_CONSOLE_TICKET_TTL_MS: '5000' },
      agentImageDirs: [testGuest.dir],
    });
    ({ engine, dir, hostId } = platform);
    clusterId = platform.cluster.id;
    // Disks live in a data domain: a local one on this host, attached to Default and active.
    ({ id: domainId, parent: dataParent } = await platform.addLocalDataDomain('vm-data'));
  }, 120_000);

  afterAll(async () => {
    if (vmId && engine) {
      // Best effort: never leave a QEMU behind, whatever failed above.
      await killQemusOf([vmId]);
    }
    await platform?.stop();
  });

  it('creates a VM, starts it from the ISO (disk created, guest boots), serial and VNC consoles through the proxy with one-time tickets, survives an engine restart, shuts it down and deletes it', async () => {
    const created = await call('POST', '/vms', {
      name: 'e2e-vm',
      cluster_id: clusterId,
      cpus: 1,
      memory_mib: 256,
      boot_order: ['cdrom', 'disk'],
      cdrom: { image: 'test-guest.iso' },
      disks: [{ size_gib: 1 }],
      nics: [{ type: 'user' }],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmId = created.json.id;

    const started = await act('start');
    expect(started.state, JSON.stringify(started.error)).toBe('succeeded');
    const vm = (await call('GET', `/vms/${vmId}`)).json;
    expect(vm).toMatchObject({ state: 'up', host_id: hostId, desired_state: 'up' });
    // The disk's volume was created in the data domain: <path>/<domain>/images/<disk>/<volume>.
    const diskId: string = vm.disks[0].id;
    expect(vm.disks[0].storage_domain_id).toBe(domainId);
    const diskDir = join(dataParent, domainId, 'images', diskId);
    const volumes = fs.readdirSync(diskDir);
    expect(volumes).toHaveLength(1);
    expect(
      fs
        .readFileSync(join(diskDir, volumes[0] as string))
        .subarray(0, 4)
        .toString('latin1'),
    ).toBe('QFI\xfb');
    expect(await qemuPidsFor(vmId)).toHaveLength(1);
    // The guest booted from the engine-named ISO: its marker reaches the serial log.
    const serialLog = join(dir, 'vms', vmId, 'serial.log');
    await until(
      'the boot marker',
      async () => fs.existsSync(serialLog) && fs.readFileSync(serialLog, 'utf8').includes(testGuest.marker),
      60_000,
    );

    // Serial console through the engine's proxy (engine → agent over mTLS → serial socket).
    const serial = await call('POST', `/vms/${vmId}/console`, { type: 'serial' });
    expect(serial.status, JSON.stringify(serial.json)).toBe(201);
    const wsBase = engine.url.replace(/^https:/, 'wss:');
    const sws = await openConsole(`${wsBase}${serial.json.ws_url}`, engine.caPem);
    const reply = readUntil(sws, (all) => all.toString('latin1').includes('console-ok-42'));
    sws.send(Buffer.from('\necho console-ok-$((6*7))\n'));
    await reply;
    sws.close();
    // A ticket opens one connection only.
    await expect(openConsole(`${wsBase}${serial.json.ws_url}`, engine.caPem)).rejects.toThrow('HTTP 401');
    // Another site's page cannot use a ticket, even a fresh one.
    const other = await call('POST', `/vms/${vmId}/console`, { type: 'serial' });
    await expect(
      openConsole(`${wsBase}${other.json.ws_url}`, engine.caPem, { origin: 'https://evil.example' }),
    ).rejects.toThrow('HTTP 403');

    // An unused ticket expires (5 s in this test, 120 s by default).
    const stale = await call('POST', `/vms/${vmId}/console`, { type: 'serial' });
    await sleep(5100);
    await expect(openConsole(`${wsBase}${stale.json.ws_url}`, engine.caPem)).rejects.toThrow('HTTP 401');

    // VNC through the proxy: RFB handshake, and QEMU asks for the VNC password the ticket set.
    const vnc = await call('POST', `/vms/${vmId}/console`, { type: 'vnc' });
    expect(vnc.status, JSON.stringify(vnc.json)).toBe(201);
    const vws = await openConsole(`${wsBase}${vnc.json.ws_url}`, engine.caPem);
    const version = await readUntil(vws, (all) => all.length >= 12);
    expect(version.subarray(0, 12).toString('latin1')).toBe('RFB 003.008\n');
    const types = readUntil(vws, (all) => all.length >= 1 && all.length >= 1 + (all[0] ?? 0));
    vws.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const offered = await types;
    // Security type 2 = VNC authentication, and nothing weaker (no type 1, "none").
    expect([...offered.subarray(1, 1 + (offered[0] ?? 0))]).toEqual([2]);
    const challenge = readUntil(vws, (all) => all.length >= 16);
    vws.send(Buffer.from([2]));
    const ch = (await challenge).subarray(0, 16);
    // The password is the ticket's first 8 characters; SecurityResult 0 means accepted.
    const result = readUntil(vws, (all) => all.length >= 4);
    vws.send(vncAuthResponse(vnc.json.ticket.slice(0, 8), ch));
    expect((await result).readUInt32BE(0)).toBe(0);
    // ClientInit (shared) → ServerInit: width, height, pixel format, name.
    const init = readUntil(vws, (all) => all.length >= 24);
    vws.send(Buffer.from([1]));
    const serverInit = await init;
    expect(serverInit.readUInt16BE(0)).toBeGreaterThan(0);
    vws.close();

    // Engine restart: the VM monitor re-reads the host on reconnect; still one QEMU, still up.
    const before = await qemuPidsFor(vmId);
    engine = await (platform as Platform).restartEngine('SIGTERM');
    await until('the host up again', async () => (await call('GET', `/hosts/${hostId}`)).json.state === 'up');
    await until('the VM up again', async () => (await call('GET', `/vms/${vmId}`)).json.state === 'up');
    expect(await qemuPidsFor(vmId)).toEqual(before);

    const del409 = await call('DELETE', `/vms/${vmId}`);
    expect(del409.json.error.code).toBe('vm_not_down');

    const shut = await act('shutdown');
    expect(shut.state, JSON.stringify(shut.error)).toBe('succeeded');
    expect((await call('GET', `/vms/${vmId}`)).json.state).toBe('down');
    await until('QEMU gone', async () => (await qemuPidsFor(vmId)).length === 0, 10_000);

    const del = await call('DELETE', `/vms/${vmId}`);
    expect(del.status).toBe(202);
    const delOp = await call('GET', `/operations/${del.json.operation.id}?wait=30`);
    expect(delOp.json.state, JSON.stringify(delOp.json.error)).toBe('succeeded');
    // Deleted with its disk (remove_disks defaults to true): the volume is gone from the domain.
    expect(delOp.json.result.removed_disk_ids).toEqual([diskId]);
    expect(fs.existsSync(diskDir)).toBe(false);
    expect((await call('GET', `/disks/${diskId}`)).status).toBe(404);
    expect((await call('GET', `/vms/${vmId}`)).status).toBe(404);
    expect(fs.existsSync(join(dir, 'vms', vmId))).toBe(false);
  }, 150_000);
});
