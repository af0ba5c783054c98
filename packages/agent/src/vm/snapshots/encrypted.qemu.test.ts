import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { VmDisk } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentFixture, startTestAgent } from '../../../test/support/agent';
import { GUEST_MARKER, guestShell, guestSpec, killQemusOf, waitForText } from '../../../test/support/guest';
import type { AgentRpcClient } from '../../rpc/client';
import { createImage, createOverlay, imageInfo } from '../../storage';
import { LUKS_ITER_TIME_MS } from '../../storage/volumes/encryption';

const run = promisify(execFile);
const VM_ID = '5a000000-0000-4000-8000-0000000000e7';
const MiB = 1024 * 1024;
/** The guest checksums this much of a disk; the host compares the same range of the chain. */
const SPAN_MIB = 4;
/** Plaintext the guest writes; it must never appear in any volume file. */
const MARKER = 'VIREO-ENC-CHAIN-MARKER-2718';

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message?: string };
  }
  throw new Error('expected a failure');
}

async function guestChecksum(socket: string, dev: string): Promise<string> {
  const out = await guestShell(
    socket,
    `sync; dd if=/dev/${dev} bs=1048576 count=${SPAN_MIB} 2>/dev/null | md5sum`,
    60_000,
  );
  const sum = /([0-9a-f]{32})/.exec(out)?.[1];
  if (!sum) throw new Error(`no checksum in guest output: ${out}`);
  return sum;
}

/**
 * Encrypted chains on a real TCG guest through the agent's RPC: a thin-clone-shaped disk (own
 * overlay under the disk's key on a template base under another key), live snapshots (with and
 * without memory) while the guest writes a marker, inner and active live merges, hot-plug and
 * unplug of another encrypted disk (and a snapshot of it), cold merges with keys. The plaintext
 * marker must be in no volume file, the keys in no log line.
 */
describe('encrypted chains: start, snapshots, merges, hot-plug (real QEMU)', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;
  const logLines: string[] = [];
  const keyDisk = randomBytes(32).toString('base64');
  const keyTmpl = randomBytes(32).toString('base64');
  const keyHot = randomBytes(32).toString('base64');
  let dir: string;
  let tmplDir: string;
  let hotDir: string;
  let keysDir: string;
  let serialSocket = '';
  const v = (n: number) => join(dir, `v${n}`);
  const h = (n: number) => join(hotDir, `h${n}`);
  const figures: Record<string, number> = {};

  const disk = (): VmDisk => ({
    id: 'd1',
    path: v(0),
    format: 'qcow2',
    interface: 'virtio',
    bootable: false,
    readonly: false,
    encryption_secret_id: 'key-d1',
    base_encryption_secret_id: 'key-tmpl',
  });
  const hotDisk = (): VmDisk => ({
    id: 'hot1',
    path: h(0),
    format: 'qcow2',
    interface: 'virtio',
    bootable: false,
    readonly: false,
    encryption_secret_id: 'key-hot1',
  });

  /** A test-side 0600 key file (what the agent would write) for host-side qemu-img checks. */
  async function keyFile(name: string, key: string): Promise<string> {
    const file = join(keysDir, name);
    if (!existsSync(file)) await writeFile(file, key, { mode: 0o600 });
    return file;
  }

  /** `--object` + `--image-opts` for a chain whose layers open with `ids` (top first). */
  async function chainArgs(path: string, ids: string[]): Promise<string[]> {
    const keys: Record<string, string> = { a: keyDisk, t: keyTmpl, h: keyHot };
    const objects: string[] = [];
    for (const id of new Set(ids)) {
      objects.push('--object', `secret,id=${id},format=raw,file=${await keyFile(id, keys[id] as string)}`);
    }
    const opts = [
      `driver=qcow2,file.driver=file,file.filename=${path}`,
      ...ids.map((id, depth) => `${'backing.'.repeat(depth)}encrypt.key-secret=${id}`),
    ];
    return [...objects, '--image-opts', opts.join(',')];
  }

  /** MD5 of the first SPAN_MIB MiB the guest sees through the chain, decrypted on the host. */
  async function hostChecksum(path: string, ids: string[]): Promise<string> {
    const raw = join(keysDir, 'flat.raw');
    await run('qemu-img', ['convert', '-U', ...(await chainArgs(path, ids)), '-O', 'raw', raw]);
    try {
      const data = await readFile(raw);
      return createHash('md5')
        .update(data.subarray(0, SPAN_MIB * MiB))
        .digest('hex');
    } finally {
      await rm(raw, { force: true });
    }
  }

  async function checkChain(path: string, ids: string[]): Promise<void> {
    // Exit 0: no errors, no leaks, every layer opened with its key.
    await run('qemu-img', ['check', '-U', '-q', ...(await chainArgs(path, ids))]);
  }

  async function encrypted(path: string): Promise<boolean> {
    return (await imageInfo(path, { format: 'qcow2', forceShare: true })).encrypted === true;
  }

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    fx = await startTestAgent({ logger: pino({ level: 'debug' }, sink) });
    rpc = await fx.connect();
    dir = join(fx.imageDir, 'disk1');
    tmplDir = join(fx.imageDir, 'tmpl');
    hotDir = join(fx.imageDir, 'hot');
    keysDir = join(fx.stateDir, 'test-keys');
    for (const d of [dir, tmplDir, hotDir]) await mkdir(d);
    await mkdir(keysDir, { mode: 0o700 });
    const encryption = async (id: string, key: string) => ({
      encryption: { secretFile: await keyFile(id, key), iterTimeMs: LUKS_ITER_TIME_MS },
    });
    // The template's base holds a known pattern the clone must read through two keys.
    const base = join(tmplDir, 'base');
    await createImage({
      path: base,
      format: 'qcow2',
      sizeBytes: 64 * MiB,
      ...(await encryption('t', keyTmpl)),
    });
    await run('qemu-io', [...(await chainArgs(base, ['t'])), '-c', `write -P 0x5a 0 ${SPAN_MIB}M`]);
    await createOverlay({
      path: v(0),
      backingPath: '../tmpl/base',
      backingFormat: 'qcow2',
      ...(await encryption('a', keyDisk)),
    });
    await createImage({
      path: h(0),
      format: 'qcow2',
      sizeBytes: 32 * MiB,
      ...(await encryption('h', keyHot)),
    });
  });

  afterAll(async () => {
    rpc?.close();
    await killQemusOf([VM_ID]);
    await fx?.dispose();
  });

  it('starts a thin-clone-shaped chain with two keys (and refuses it without the base key)', async () => {
    const missing = await errorOf(
      rpc.call('vm.start', {
        spec: guestSpec(VM_ID, 'enc-chain', { disks: [disk()] }),
        secrets: { 'key-d1': keyDisk },
      }),
    );
    expect(missing.code).toBe('invalid_params');
    // A spec that calls the template layer plain is refused by the header check, before QEMU runs.
    const { base_encryption_secret_id: _dropped, ...noBase } = disk();
    const plainBase = await errorOf(
      rpc.call('vm.start', {
        spec: guestSpec(VM_ID, 'enc-chain', { disks: [noBase] }),
        secrets: { 'key-d1': keyDisk },
      }),
    );
    expect(plainBase.code).toBe('image_invalid');

    const { vm } = await rpc.call('vm.start', {
      spec: guestSpec(VM_ID, 'enc-chain', { disks: [disk()] }),
      secrets: { 'key-d1': keyDisk, 'key-tmpl': keyTmpl },
    });
    serialSocket = vm.serial!.socket;
    await waitForText(vm.serial!.log, GUEST_MARKER, 90_000);
    const pattern = createHash('md5')
      .update(Buffer.alloc(SPAN_MIB * MiB, 0x5a))
      .digest('hex');
    expect(await guestChecksum(serialSocket, 'vda')).toBe(pattern);
  });

  it('takes a live snapshot while the guest writes the marker: the overlay is encrypted with the disk key', async () => {
    await guestShell(
      serialSocket,
      `yes ${MARKER} | head -c 1048576 | dd of=/dev/vda bs=65536 conv=fsync 2>/dev/null`,
      60_000,
    );
    // A writer in the background: the snapshot lands in the middle of it.
    await guestShell(
      serialSocket,
      `{ (i=0; while [ $i -lt 200 ]; do yes ${MARKER} | head -c 4096 | dd of=/dev/vda bs=4096 count=1 seek=$((300+i)) conv=fsync 2>/dev/null; i=$((i+1)); done; sync; echo WRITER-""DONE) & }`,
    );
    const t0 = performance.now();
    const snap = await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [{ disk_id: 'd1', new_volume_path: v(1), format: 'qcow2', encryption: { secret: keyDisk } }],
    });
    figures.snapshot_call_ms = performance.now() - t0;
    figures.snapshot_paused_ms = snap.paused_ms;
    expect(snap.disks).toEqual([{ disk_id: 'd1', path: v(1) }]);
    // The LUKS overlay (seconds of PBKDF benchmark) is made before the switch, not inside it.
    expect(snap.paused_ms).toBeLessThan(1_000);
    expect(await encrypted(v(1))).toBe(true);
    expect((await imageInfo(v(1), { format: 'qcow2', forceShare: true }))['backing-filename']).toBe('v0');
    await waitForText(join(fx.stateDir, 'vms', VM_ID, 'serial.log'), 'WRITER-DONE', 120_000);
    expect(await guestChecksum(serialSocket, 'vda')).toBe(await hostChecksum(v(1), ['a', 'a', 't']));
    // The 0600 key file qemu-img read is gone.
    const secrets = join(fx.stateDir, 'vms', VM_ID, 'secrets');
    for (const entry of await readdir(secrets).catch(() => [])) {
      expect(await readdir(join(secrets, entry)).catch(() => [])).toEqual([]);
    }
    // A plain-disk request for an encrypted disk is refused.
    const noKey = await errorOf(
      rpc.call('vm.snapshot', {
        vm_id: VM_ID,
        disks: [{ disk_id: 'd1', new_volume_path: v(9), format: 'qcow2' }],
      }),
    );
    expect(noKey.code).toBe('invalid_params');
    expect(existsSync(v(9))).toBe(false);
  });

  it('takes a memory snapshot of the encrypted disk, then merges live: inner, then active', async () => {
    const mem = join(dir, 'mem1');
    const snap = await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [{ disk_id: 'd1', new_volume_path: v(2), format: 'qcow2', encryption: { secret: keyDisk } }],
      memory: { path: mem },
    });
    expect(snap.memory_bytes).toBeGreaterThan(MiB);
    expect(await encrypted(v(2))).toBe(true);
    await rm(mem);
    expect(await guestShell(serialSocket, 'echo alive-$((40+2))')).toContain('alive-42');

    const before = await guestChecksum(serialSocket, 'vda');
    const inner = await rpc.call('vm.merge', {
      vm_id: VM_ID,
      disk_id: 'd1',
      top_path: v(1),
      base_path: v(0),
    });
    expect(inner).toEqual({ base_path: v(0), removed_path: v(1), rebased_path: v(2), already_done: false });
    expect((await imageInfo(v(2), { format: 'qcow2', forceShare: true }))['backing-filename']).toBe('v0');
    await checkChain(v(2), ['a', 'a', 't']);
    expect(await hostChecksum(v(2), ['a', 'a', 't'])).toBe(before);

    const active = await rpc.call('vm.merge', {
      vm_id: VM_ID,
      disk_id: 'd1',
      top_path: v(2),
      base_path: v(0),
    });
    expect(active).toMatchObject({ removed_path: v(2), rebased_path: null });
    expect(existsSync(v(2))).toBe(false);
    const { spec } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(spec?.disks[0]?.path).toBe(v(0));
    expect(await guestChecksum(serialSocket, 'vda')).toBe(before);
    await checkChain(v(0), ['a', 't']);
    expect(await hostChecksum(v(0), ['a', 't'])).toBe(before);
  });

  it('hot-plugs an encrypted disk the guest writes and reads, snapshots it, and unplugs it', async () => {
    const missing = await errorOf(rpc.call('vm.attach_disk', { vm_id: VM_ID, disk: hotDisk() }));
    expect(missing.code).toBe('invalid_params');
    await rpc.call('vm.attach_disk', { vm_id: VM_ID, disk: hotDisk(), secrets: { 'key-hot1': keyHot } });
    await expect
      .poll(async () => (await guestShell(serialSocket, 'ls /sys/block')).split(/\s+/), {
        timeout: 30_000,
        interval: 500,
      })
      .toContain('vdb');
    await guestShell(
      serialSocket,
      `yes ${MARKER} | head -c 2097152 | dd of=/dev/vdb bs=65536 conv=fsync 2>/dev/null`,
      60_000,
    );
    const written = await guestChecksum(serialSocket, 'vdb');
    // The secret object QEMU got over QMP opens the snapshot's overlay too.
    await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [{ disk_id: 'hot1', new_volume_path: h(1), format: 'qcow2', encryption: { secret: keyHot } }],
    });
    expect(await encrypted(h(1))).toBe(true);
    await guestShell(
      serialSocket,
      'dd if=/dev/zero of=/dev/vdb bs=65536 count=4 seek=40 conv=fsync 2>/dev/null',
    );
    const after = await guestChecksum(serialSocket, 'vdb');
    expect(await hostChecksum(h(1), ['h', 'h'])).toBe(after);
    expect(await hostChecksum(h(0), ['h'])).toBe(written);

    await rpc.call('vm.detach_disk', { vm_id: VM_ID, disk_id: 'hot1' });
    expect((await guestShell(serialSocket, 'ls /sys/block')).split(/\s+/)).not.toContain('vdb');
    expect((await rpc.call('vm.get', { vm_id: VM_ID })).spec?.disks.map((d) => d.id)).toEqual(['d1']);
    // QEMU let go of every layer (a cold merge needs the write lock), and plugging it in again works.
    await rpc.call('vm.attach_disk', {
      vm_id: VM_ID,
      disk: { ...hotDisk(), path: h(1) },
      secrets: { 'key-hot1': keyHot },
    });
    await expect
      .poll(async () => (await guestShell(serialSocket, 'ls /sys/block')).split(/\s+/), {
        timeout: 30_000,
        interval: 500,
      })
      .toContain('vdb');
    expect(await guestChecksum(serialSocket, 'vdb')).toBe(after);
    await rpc.call('vm.detach_disk', { vm_id: VM_ID, disk_id: 'hot1' });
  });

  it('merges cold with the keys (template key included) and refuses without them', async () => {
    await rpc.call('vm.stop', { vm_id: VM_ID });
    // Hot disk: h1 into h0 (both under its own key).
    const hotBefore = await hostChecksum(h(1), ['h', 'h']);
    const noKeys = await errorOf(rpc.call('volume.merge', { top_path: h(1), base_path: h(0) }));
    expect(noKeys.code).toBe('invalid_params');
    const wrong = await errorOf(
      rpc.call('volume.merge', { top_path: h(1), base_path: h(0), encryption: { secret: keyDisk } }),
    );
    expect(wrong.code).not.toBeUndefined();
    expect(existsSync(h(1))).toBe(true);
    await rpc.call('volume.merge', { top_path: h(1), base_path: h(0), encryption: { secret: keyHot } });
    expect(existsSync(h(1))).toBe(false);
    await checkChain(h(0), ['h']);
    expect(await hostChecksum(h(0), ['h'])).toBe(hotBefore);

    // Clone disk, cold snapshot shape: an overlay v3 on v0, written, merged back over the template
    // base (qemu-img opens v3, v0 with the disk key and the base with the template's).
    await createOverlay({
      path: v(3),
      backingPath: 'v0',
      backingFormat: 'qcow2',
      encryption: { secretFile: await keyFile('a', keyDisk), iterTimeMs: LUKS_ITER_TIME_MS },
    });
    await run('qemu-io', [...(await chainArgs(v(3), ['a', 'a', 't'])), '-c', 'write -P 0x33 1M 64k']);
    const cloneBefore = await hostChecksum(v(3), ['a', 'a', 't']);
    await rpc.call('volume.merge', {
      top_path: v(3),
      base_path: v(0),
      encryption: { secret: keyDisk, base_secret: keyTmpl },
    });
    await checkChain(v(0), ['a', 't']);
    expect(await hostChecksum(v(0), ['a', 't'])).toBe(cloneBefore);
  });

  it('left the marker in no volume file and the keys in no log line', async () => {
    const marker = Buffer.from(MARKER);
    for (const d of [dir, tmplDir, hotDir]) {
      for (const name of await readdir(d)) {
        const data = await readFile(join(d, name));
        expect(data.includes(marker), `${name} holds plaintext`).toBe(false);
      }
    }
    const log = logLines.join('');
    expect(log.length).toBeGreaterThan(0);
    for (const key of [keyDisk, keyTmpl, keyHot]) {
      expect(log).not.toContain(key);
      expect(log).not.toContain(Buffer.from(key).toString('base64'));
    }
    console.log('encrypted snapshot figures', JSON.stringify(figures));
  });
});
