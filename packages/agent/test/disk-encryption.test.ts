import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { VmDisk } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRpcClient } from '../src/rpc/client';
import { verifyVolumeKey } from '../src/storage/volumes/encryption';
import { vmPaths } from '../src/vm/paths';
import { type AgentFixture, startTestAgent } from './support/agent';
import { GUEST_MARKER, guestShell, guestSpec, killQemusOf, qemuPidsFor, waitForText } from './support/guest';

const run = promisify(execFile);
const VM_ENC = '7b000000-0000-4000-8000-0000000000e1';
const VM_PLAIN = '7b000000-0000-4000-8000-0000000000e2';
const MiB = 1024 ** 2;

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message?: string };
  }
  throw new Error('expected a failure');
}

/**
 * LUKS-in-qcow2 disks through the agent's RPC: created with a key the agent writes to a 0600 file,
 * opened by a real QEMU (TCG) whose guest writes a marker. The marker must be in the decrypted
 * image and nowhere in the file; the key never in the agent's log, QEMU's log or argv.
 */
describe('encrypted disks on a real guest', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;
  const logLines: string[] = [];
  const domainId = randomUUID();
  const key = randomBytes(32).toString('base64');
  const wrongKey = randomBytes(32).toString('base64');
  const encDisk = { disk_id: randomUUID(), volume_id: randomUUID() };
  const plainDisk = { disk_id: randomUUID(), volume_id: randomUUID() };
  let encPath = '';
  let plainPath = '';
  const figures: Record<string, number> = {};

  const disk = (path: string, encrypted: boolean): VmDisk => ({
    id: 'data0',
    path,
    format: 'qcow2',
    interface: 'virtio',
    bootable: false,
    readonly: false,
    ...(encrypted ? { encryption_secret_id: 'disk0' } : {}),
  });

  beforeAll(async () => {
    // Debug level: the key must not leak even at the most talkative level.
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    fx = await startTestAgent({ logger: pino({ level: 'debug' }, sink) });
    rpc = await fx.connect();
    const path = join(fx.stateDir, 'domains');
    await mkdir(path, { recursive: true });
    await rpc.call('storage.activate', {
      domain: { id: domainId, name: 'enc-data', kind: 'data', backend: 'local', path },
      engine_id: randomUUID(),
      create_metadata: true,
    });
  });

  afterAll(async () => {
    await killQemusOf([VM_ENC, VM_PLAIN]);
    await fx?.dispose();
  });

  it('creates an encrypted and a plain volume; only the first needs the key', async () => {
    let t = performance.now();
    const enc = await rpc.call('volume.create', {
      domain_id: domainId,
      ...encDisk,
      format: 'qcow2',
      size_bytes: 16 * MiB,
      encryption: { secret: key },
    });
    figures.create_encrypted_ms = performance.now() - t;
    t = performance.now();
    const plain = await rpc.call('volume.create', {
      domain_id: domainId,
      ...plainDisk,
      format: 'qcow2',
      size_bytes: 16 * MiB,
    });
    figures.create_plain_ms = performance.now() - t;
    encPath = enc.path;
    plainPath = plain.path;
    const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', encPath]);
    expect(JSON.parse(stdout).encrypted).toBe(true);
    const plainInfo = await run('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', plainPath]);
    expect(JSON.parse(plainInfo.stdout).encrypted).toBeUndefined();
    // The agent's key files are gone once qemu-img is done.
    expect(await readdir(join(fx.stateDir, 'secrets')).catch(() => [])).toEqual([]);
    // raw + encryption is refused before anything is written.
    const raw = await errorOf(
      rpc.call('volume.create', {
        domain_id: domainId,
        disk_id: randomUUID(),
        volume_id: randomUUID(),
        format: 'raw',
        size_bytes: 16 * MiB,
        encryption: { secret: key },
      }),
    );
    expect(raw.code).toBe('invalid_params');
  });

  it('refuses a VM start with a wrong key (encryption_key_invalid) or without one, leaving no QEMU', async () => {
    const wrong = await errorOf(
      rpc.call('vm.start', {
        spec: guestSpec(VM_ENC, 'enc-guest', { disks: [disk(encPath, true)] }),
        secrets: { disk0: wrongKey },
      }),
    );
    expect(wrong.code).toBe('encryption_key_invalid');
    expect(await qemuPidsFor(VM_ENC)).toEqual([]);
    const missing = await errorOf(
      rpc.call('vm.start', { spec: guestSpec(VM_ENC, 'enc-guest', { disks: [disk(encPath, true)] }) }),
    );
    expect(missing.code).toBe('invalid_params');
    expect(await qemuPidsFor(VM_ENC)).toEqual([]);
  });

  it('a guest writes through the encrypted disk; the file holds only ciphertext', async () => {
    // Start time of a plain disk VM, then of the encrypted one (vm.start returns once QEMU runs).
    let t = performance.now();
    await rpc.call('vm.start', {
      spec: guestSpec(VM_PLAIN, 'plain-guest', { disks: [disk(plainPath, false)] }),
    });
    figures.start_plain_ms = performance.now() - t;
    await rpc.call('vm.destroy', { vm_id: VM_PLAIN });

    t = performance.now();
    await rpc.call('vm.start', {
      spec: guestSpec(VM_ENC, 'enc-guest', { disks: [disk(encPath, true)] }),
      secrets: { disk0: key },
    });
    figures.start_encrypted_ms = performance.now() - t;

    const [pid] = await qemuPidsFor(VM_ENC);
    expect(pid).toBeDefined();
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('"key-secret":"disk0"');
    expect(cmdline).not.toContain(key);
    // The key file QEMU read is removed once QEMU answered on QMP.
    const paths = vmPaths(fx.stateDir, VM_ENC);
    const leftovers = await readdir(join(paths.dir, 'secrets'), { recursive: true }).catch(() => []);
    expect(leftovers.filter((f) => String(f).endsWith('.key'))).toEqual([]);

    await waitForText(paths.serialLog, GUEST_MARKER, 120_000);
    const marker = `VIREO-PLAINTEXT-${randomBytes(6).toString('hex')}`;
    const readBack = await guestShell(
      paths.serialSocket,
      `printf '${marker}' | dd of=/dev/vda bs=512 conv=fsync 2>/dev/null; dd if=/dev/vda bs=64 count=1 2>/dev/null | head -c ${marker.length}`,
      60_000,
    );
    expect(readBack).toContain(marker);
    await rpc.call('vm.destroy', { vm_id: VM_ENC });

    const file = await readFile(encPath);
    expect(file.includes(marker)).toBe(false);

    // The bytes did reach this disk: decrypted with the key, the marker is at offset 0.
    const keyFile = join(fx.stateDir, 'test-key');
    await writeFile(keyFile, key, { mode: 0o600 });
    const out = join(fx.stateDir, 'decrypted.raw');
    try {
      await run('qemu-img', [
        'convert',
        '--object',
        `secret,id=s0,format=raw,file=${keyFile}`,
        '--image-opts',
        `driver=qcow2,file.filename=${encPath},encrypt.format=luks,encrypt.key-secret=s0`,
        '-O',
        'raw',
        out,
      ]);
      expect((await readFile(out)).subarray(0, marker.length).toString()).toBe(marker);
      await verifyVolumeKey(encPath, keyFile);
      await writeFile(keyFile, wrongKey, { mode: 0o600 });
      expect(await errorOf(verifyVolumeKey(encPath, keyFile))).toMatchObject({
        code: 'encryption_key_invalid',
      });
    } finally {
      await rm(keyFile, { force: true });
      await rm(out, { force: true });
    }

    const qemuLog = await readFile(paths.qemuLog, 'utf8').catch(() => '');
    expect(qemuLog).not.toContain(key);
    const agentLog = logLines.join('');
    expect(agentLog).toContain('VM started');
    expect(agentLog).not.toContain(key);
    expect(agentLog).not.toContain(wrongKey);
    console.info(`disk encryption figures: ${JSON.stringify(figures)}`);
  });
});
