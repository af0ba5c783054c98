import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { VmDisk } from '@vireo/agent-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentFixture, recordEvents, startTestAgent } from '../../../test/support/agent';
import { GUEST_MARKER, guestShell, guestSpec, killQemusOf, waitForText } from '../../../test/support/guest';
import type { AgentRpcClient } from '../../rpc/client';
import { checkImage, createImage, createOverlay, imageInfo } from '../../storage';

const run = promisify(execFile);
const VM_ID = '5a000000-0000-4000-8000-000000000001';
const DISK = 'd1';
/** The guest checksums this much of /dev/vda; the host compares the same range of the chain. */
const SPAN_MIB = 8;

/** MD5 of the first SPAN_MIB MiB the guest sees through `path`'s chain (read on the host). */
async function hostChecksum(dir: string, path: string, mib = SPAN_MIB): Promise<string> {
  const raw = join(dir, 'flat.raw');
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', path, raw]);
  try {
    const hash = createHash('md5');
    for await (const chunk of createReadStream(raw, { end: mib * 1024 * 1024 - 1 })) hash.update(chunk);
    return hash.digest('hex');
  } finally {
    await rm(raw, { force: true });
  }
}

async function guestChecksum(socket: string): Promise<string> {
  const out = await guestShell(
    socket,
    `sync; dd if=/dev/vda bs=1048576 count=${SPAN_MIB} 2>/dev/null | md5sum`,
    60_000,
  );
  const sum = /([0-9a-f]{32})/.exec(out)?.[1];
  if (!sum) throw new Error(`no checksum in guest output: ${out}`);
  return sum;
}

async function backingName(path: string): Promise<string | undefined> {
  return (await imageInfo(path, { format: 'qcow2', forceShare: true }))['backing-filename'];
}

/**
 * Snapshots and merges on a real TCG guest through the agent's RPC server: a live snapshot while the
 * guest writes, memory state, an inner and an active-layer live merge, a clean chain and the same
 * bytes on both sides; then a cold merge whose qemu-img is SIGKILLed half way, a start refused on
 * the half-merged chain, and the retry that finishes it.
 */
describe('vm.snapshot / vm.merge / volume.merge (real QEMU)', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;
  let events: ReturnType<typeof recordEvents>;
  let dir: string;
  let serialSocket: string;
  let serialLog: string;
  const v = (n: number) => join(dir, `v${n}`);

  beforeAll(async () => {
    fx = await startTestAgent();
    rpc = await fx.connect({ events: true });
    events = recordEvents(rpc);
    dir = join(fx.imageDir, 'disk1');
    await mkdir(dir);
    await createImage({ path: v(0), format: 'qcow2', sizeBytes: 512 * 1024 * 1024 });
    await mkdir(join(fx.imageDir, 'disk2'));
    await createImage({
      path: join(fx.imageDir, 'disk2', 'w0'),
      format: 'qcow2',
      sizeBytes: 64 * 1024 * 1024,
    });
  });

  afterAll(async () => {
    rpc?.close();
    await killQemusOf([VM_ID]);
    await fx?.dispose();
  });

  const disk: () => VmDisk = () => ({
    id: DISK,
    path: v(0),
    format: 'qcow2',
    interface: 'virtio',
    bootable: false,
    readonly: false,
  });

  it('takes a live snapshot while the guest writes; the chain and the bytes agree', async () => {
    const second: VmDisk = { ...disk(), id: 'd2', path: join(fx.imageDir, 'disk2', 'w0') };
    const { vm } = await rpc.call('vm.start', {
      spec: guestSpec(VM_ID, 'snap-guest', { disks: [disk(), second] }),
    });
    serialSocket = vm.serial!.socket;
    serialLog = vm.serial!.log;
    await waitForText(serialLog, GUEST_MARKER, 90_000);
    await guestShell(
      serialSocket,
      'dd if=/dev/urandom of=/dev/vda bs=65536 count=32 conv=fsync 2>/dev/null',
      60_000,
    );
    // A writer in the background: the snapshot lands in the middle of it.
    await guestShell(
      serialSocket,
      '{ (i=0; while [ $i -lt 300 ]; do dd if=/dev/urandom of=/dev/vda bs=4096 count=1 seek=$((512+i)) conv=fsync 2>/dev/null; i=$((i+1)); done; sync; echo WRITER-""DONE) & }',
    );
    const snap = await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [
        { disk_id: DISK, new_volume_path: v(1), format: 'qcow2' },
        { disk_id: 'd2', new_volume_path: join(fx.imageDir, 'disk2', 'w1'), format: 'qcow2' },
      ],
    });
    // Both disks switched in the one transaction.
    expect(snap.disks).toEqual([
      { disk_id: DISK, path: v(1) },
      { disk_id: 'd2', path: join(fx.imageDir, 'disk2', 'w1') },
    ]);
    expect(await backingName(join(fx.imageDir, 'disk2', 'w1'))).toBe('w0');
    expect(snap.paused_ms).toBeGreaterThan(0);
    expect(await backingName(v(1))).toBe('v0');
    await waitForText(serialLog, 'WRITER-DONE', 120_000);
    const { spec } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(spec?.disks.map((d) => d.path)).toEqual([v(1), join(fx.imageDir, 'disk2', 'w1')]);
    // The writes after the snapshot went to the overlay; v0 is frozen and consistent.
    expect((await checkImage(v(0), { format: 'qcow2', forceShare: true }))['check-errors']).toBe(0);
    expect(await guestChecksum(serialSocket)).toBe(await hostChecksum(dir, v(1)));
  });

  it('saves the memory state with a second snapshot', async () => {
    const mem = join(dir, 'mem1');
    const snap = await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [{ disk_id: DISK, new_volume_path: v(2), format: 'qcow2' }],
      memory: { path: mem },
    });
    expect(snap.memory_bytes).toBeGreaterThan(1024 * 1024);
    expect((await stat(mem)).size).toBe(snap.memory_bytes);
    expect((await stat(mem)).mode & 0o777).toBe(0o600);
    expect(await backingName(v(2))).toBe('v1');
    // The guest runs on after the save.
    const { vm } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(vm.state).toBe('up');
    expect(await guestShell(serialSocket, 'echo alive-$((40+2))')).toContain('alive-42');
    await rm(mem);
  });

  it('merges an inner volume live: the child is rebased and the data is the same', async () => {
    const before = await guestChecksum(serialSocket);
    const result = await rpc.call('vm.merge', {
      vm_id: VM_ID,
      disk_id: DISK,
      top_path: v(1),
      base_path: v(0),
    });
    expect(result).toEqual({ base_path: v(0), removed_path: v(1), rebased_path: v(2), already_done: false });
    expect(existsSync(v(1))).toBe(false);
    expect(existsSync(join(dir, 'merge.json'))).toBe(false);
    expect(await backingName(v(2))).toBe('v0');
    expect(await guestChecksum(serialSocket)).toBe(before);
    expect(await hostChecksum(dir, v(2))).toBe(before);
  });

  it('merges the active volume live (block-commit, ready, job-complete) with progress events', async () => {
    await guestShell(
      serialSocket,
      'dd if=/dev/urandom of=/dev/vda bs=65536 count=16 seek=40 conv=fsync 2>/dev/null',
      60_000,
    );
    const before = await guestChecksum(serialSocket);
    const result = await rpc.call('vm.merge', {
      vm_id: VM_ID,
      disk_id: DISK,
      top_path: v(2),
      base_path: v(0),
      job_id: 'merge-active',
    });
    expect(result).toMatchObject({ base_path: v(0), removed_path: v(2), rebased_path: null });
    expect(existsSync(v(2))).toBe(false);
    const { spec } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(spec?.disks[0]?.path).toBe(v(0));
    // The guest now writes to v0 directly.
    expect(await guestChecksum(serialSocket)).toBe(before);
    await guestShell(
      serialSocket,
      'dd if=/dev/urandom of=/dev/vda bs=4096 count=8 seek=3 conv=fsync 2>/dev/null',
      60_000,
    );
    const after = await guestChecksum(serialSocket);
    expect((await checkImage(v(0), { format: 'qcow2', forceShare: true }))['check-errors']).toBe(0);
    const progress = events.filter((e) => e.name === 'job.progress' && e.params.job_id === 'merge-active');
    expect(progress.at(-1)?.params).toMatchObject({ kind: 'merge', state: 'succeeded', progress: 1 });
    await rpc.call('vm.stop', { vm_id: VM_ID });
    expect(await hostChecksum(dir, v(0))).toBe(after);
    expect(await backingName(v(0))).toBeUndefined();
  });

  it('finishes a cold merge whose qemu-img was SIGKILLed, and refuses to start the half-merged chain', async () => {
    // A top with enough data that the commit takes a while.
    await createOverlay({ path: v(3), backingPath: 'v0', backingFormat: 'qcow2' });
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 256M', v(3)]);
    const expected = await hostChecksum(dir, v(3), 512);
    const killer = killQemuImgCommit(v(3));
    // Rate-limited so the commit is surely still running when it is killed (about 4 s in all).
    const first = rpc.call('volume.merge', {
      top_path: v(3),
      base_path: v(0),
      speed_bytes_per_s: 64 * 1024 * 1024,
    });
    await expect(first).rejects.toMatchObject({ code: 'merge_failed' });
    expect(await killer).toBe(true);
    const marker = JSON.parse(await readFile(join(dir, 'merge.json'), 'utf8'));
    expect(marker).toMatchObject({ kind: 'cold', top: 'v3', base: 'v0', phase: 'started' });
    await expect(
      rpc.call('vm.start', {
        spec: guestSpec(VM_ID, 'snap-guest', { disks: [{ ...disk(), path: v(3) }] }),
      }),
    ).rejects.toMatchObject({ code: 'merge_pending' });
    expect((await rpc.call('merge.status', { volume_path: v(0) })).pending).toMatchObject({
      phase: 'started',
    });

    const retry = await rpc.call('volume.merge', { top_path: v(3), base_path: v(0) });
    expect(retry).toEqual({ base_path: v(0), removed_path: v(3), rebased_path: null, already_done: false });
    expect(existsSync(v(3))).toBe(false);
    expect(existsSync(join(dir, 'merge.json'))).toBe(false);
    expect(await hostChecksum(dir, v(0), 512)).toBe(expected);
    expect((await checkImage(v(0), { format: 'qcow2' }))['check-errors']).toBe(0);
  });
  it('finishes cold, after QEMU died in the middle of a live merge, a merge the start path refuses', async () => {
    const { vm } = await rpc.call('vm.start', { spec: guestSpec(VM_ID, 'snap-guest', { disks: [disk()] }) });
    await waitForText(vm.serial!.log, GUEST_MARKER, 90_000);
    const socket = vm.serial!.socket;
    await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [{ disk_id: DISK, new_volume_path: v(4), format: 'qcow2' }],
    });
    await guestShell(
      socket,
      'dd if=/dev/urandom of=/dev/vda bs=1048576 count=32 conv=fsync 2>/dev/null',
      120_000,
    );
    const written = await guestChecksum(socket);
    // 32 MiB at 8 MiB/s: the job is surely running when QEMU is killed.
    const merging = rpc.call('vm.merge', {
      vm_id: VM_ID,
      disk_id: DISK,
      top_path: v(4),
      base_path: v(0),
      speed_bytes_per_s: 8 * 1024 * 1024,
    });
    merging.catch(() => undefined);
    await expect
      .poll(() => existsSync(join(dir, 'merge.json')), { timeout: 30_000, interval: 20 })
      .toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    process.kill(vm.pid as number, 'SIGKILL');
    await expect(merging).rejects.toBeDefined();
    await expect
      .poll(async () => (await rpc.call('vm.get', { vm_id: VM_ID })).vm.state, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe('down');
    expect(JSON.parse(await readFile(join(dir, 'merge.json'), 'utf8'))).toMatchObject({
      kind: 'live',
      top: 'v4',
      base: 'v0',
      phase: 'started',
    });
    // The half-merged chain must not run.
    await expect(
      rpc.call('vm.start', { spec: guestSpec(VM_ID, 'snap-guest', { disks: [{ ...disk(), path: v(4) }] }) }),
    ).rejects.toMatchObject({ code: 'merge_pending' });
    // The cold retry finishes it: the base alone holds what the guest wrote.
    const result = await rpc.call('volume.merge', { top_path: v(4), base_path: v(0) });
    expect(result).toMatchObject({ removed_path: v(4), already_done: false });
    expect(existsSync(v(4))).toBe(false);
    expect(existsSync(join(dir, 'merge.json'))).toBe(false);
    expect(await hostChecksum(dir, v(0))).toBe(written);
    expect((await checkImage(v(0), { format: 'qcow2' }))['check-errors']).toBe(0);
  });
});

/** Watches /proc for `qemu-img commit` of `top` and SIGKILLs it once it has run a little. */
async function killQemuImgCommit(top: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { readdir } = await import('node:fs/promises');
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      const args = cmd.split('\0');
      if (args[0]?.endsWith('qemu-img') && args.includes('commit') && args.includes(top)) {
        // Half a second into a four-second commit: some clusters are in the base, most are not.
        await new Promise((r) => setTimeout(r, 500));
        try {
          process.kill(Number(pid), 'SIGKILL');
          return true;
        } catch {
          return false;
        }
      }
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return false;
}
