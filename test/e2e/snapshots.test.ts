import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRpcClient } from '../../packages/agent/src/rpc/client';
import {
  type AgentProcess,
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from '../../packages/agent/test/support/binary';
import {
  GUEST_MARKER,
  guestShell,
  guestSpec,
  killQemusOf,
  qemuPidsFor,
  testGuest,
  waitForText,
} from '../../packages/agent/test/support/guest';
import { bootGuestVm, createGuestVm, stopGuestVm } from '../support/guest-vms';
import { type ApiAnswer, type Platform, startPlatform } from '../support/platform';
import { testGuest as sharedGuest } from '../support/test-guest';

const run = promisify(execFile);
const VM_ID = '5b000000-0000-4000-8000-000000000001';
const DISK = 'data';
const MiB = 1024 * 1024;

async function md5OfChain(dir: string, path: string, mib: number): Promise<string> {
  const raw = join(dir, 'flat.raw');
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', path, raw]);
  try {
    const hash = createHash('md5');
    for await (const chunk of createReadStream(raw, { end: mib * MiB - 1 })) hash.update(chunk);
    return hash.digest('hex');
  } finally {
    await rm(raw, { force: true });
  }
}

/**
 * Crash safety of a live merge, with the deployed agent binary: the agent is SIGKILLed while QEMU
 * runs a rate-limited `block-commit` of the guest's active volume. The restarted agent re-adopts
 * the VM, finds the merge marker, finishes the job (pivot included) and the guest ends up on the
 * base volume with every byte it wrote, on a clean chain.
 */
describe('live merge across an agent SIGKILL (agent binary, real QEMU)', () => {
  let dir: string;
  let disks: string;
  let agent: AgentProcess | undefined;
  let serveArgs: string[];

  const connect = async (address: string) => {
    const tls = join(dir, 'tls');
    return AgentRpcClient.connect({
      address,
      ca: await readFile(join(tls, 'ca.pem'), 'utf8'),
      cert: await readFile(join(tls, 'client.pem'), 'utf8'),
      key: await readFile(join(tls, 'client-key.pem'), 'utf8'),
      events: true,
    });
  };

  beforeAll(async () => {
    await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'vsn-'));
    disks = join(dir, 'images', 'disk1');
    await mkdir(disks, { recursive: true });
    await runAgentCommand(['dev-ca', '--state-dir', dir]);
    serveArgs = [
      '--state-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--accel',
      'tcg',
      '--image-dir',
      testGuest().dir,
      '--image-dir',
      join(dir, 'images'),
    ];
  });

  afterAll(async () => {
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    await killQemusOf([VM_ID]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finishes the merge after the restart and the VM runs on the base with the data it wrote', async () => {
    const v0 = join(disks, 'v0');
    const v1 = join(disks, 'v1');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', v0, String(256 * MiB)]);
    agent = await spawnAgent(serveArgs);
    let rpc = await connect(agent.address);
    const spec = guestSpec(VM_ID, 'merge-crash', {
      disks: [{ id: DISK, path: v0, format: 'qcow2', interface: 'virtio', bootable: false, readonly: false }],
    });
    const { vm } = await rpc.call('vm.start', { spec });
    await waitForText(vm.serial!.log, GUEST_MARKER, 90_000);
    const socket = vm.serial!.socket;
    await rpc.call('vm.snapshot', {
      vm_id: VM_ID,
      disks: [{ disk_id: DISK, new_volume_path: v1, format: 'qcow2' }],
    });
    // 48 MiB into the overlay: with the commit limited to 16 MiB/s it runs for about 3 s.
    await guestShell(
      socket,
      'dd if=/dev/urandom of=/dev/vda bs=1048576 count=48 conv=fsync 2>/dev/null',
      120_000,
    );
    const guestSum = /([0-9a-f]{32})/.exec(
      await guestShell(socket, 'dd if=/dev/vda bs=1048576 count=64 2>/dev/null | md5sum', 60_000),
    )?.[1];
    expect(guestSum).toBeTruthy();

    const merging = rpc.call('vm.merge', {
      vm_id: VM_ID,
      disk_id: DISK,
      top_path: v1,
      base_path: v0,
      job_id: 'merge-crash',
      speed_bytes_per_s: 16 * MiB,
    });
    merging.catch(() => undefined);
    // SIGKILL once the job runs (marker written, first progress out), QEMU untouched.
    await expect
      .poll(() => existsSync(join(disks, 'merge.json')), { timeout: 30_000, interval: 20 })
      .toBe(true);
    await new Promise((r) => setTimeout(r, 700));
    const pid = (await qemuPidsFor(VM_ID))[0];
    expect(await stopProcess(agent.proc, 'SIGKILL')).toBe('SIGKILL');
    agent = undefined;
    rpc.close();
    const marker = JSON.parse(await readFile(join(disks, 'merge.json'), 'utf8'));
    expect(marker).toMatchObject({
      kind: 'live',
      top: 'v1',
      base: 'v0',
      phase: 'started',
      job_id: 'merge-crash',
    });
    // QEMU is untouched by the agent's death (and keeps running the block job).
    expect(await qemuPidsFor(VM_ID)).toContain(pid);

    agent = await spawnAgent(serveArgs);
    rpc = await connect(agent.address);
    // Recovery finishes the merge on its own: the marker goes, the top is deleted.
    await expect
      .poll(() => existsSync(join(disks, 'merge.json')), { timeout: 60_000, interval: 100 })
      .toBe(false);
    expect(existsSync(v1)).toBe(false);
    const { vm: again, spec: after } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(again).toMatchObject({ state: 'up', reason: 'recovered', pid });
    expect(after?.disks[0]?.path).toBe(v0);
    // The guest still reads what it wrote, now from v0 alone; the chain is clean.
    const sumNow = /([0-9a-f]{32})/.exec(
      await guestShell(socket, 'dd if=/dev/vda bs=1048576 count=64 2>/dev/null | md5sum', 60_000),
    )?.[1];
    expect(sumNow).toBe(guestSum);
    const { stdout } = await run('qemu-img', ['check', '-U', '--output=json', '-f', 'qcow2', v0]);
    expect(JSON.parse(stdout)['check-errors']).toBe(0);
    const { stdout: info } = await run('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', v0]);
    expect(JSON.parse(info)['backing-filename']).toBeUndefined();

    await rpc.call('vm.stop', { vm_id: VM_ID });
    expect(await md5OfChain(disks, v0, 64)).toBe(guestSum);
    rpc.close();
    expect(await stopProcess(agent.proc, 'SIGTERM')).toBe(0);
    agent = undefined;
  });
});

/**
 * Snapshots through the engine: real engine binary, an enrolled agent, the test guest on a disk in a
 * local data domain. A live snapshot while the guest writes, a live merge (the snapshot deleted)
 * with the chain checked by qemu-img and the guest's bytes compared on both sides; then, with the VM
 * down, a cold snapshot, preview (the guest sees the old bytes), undo, revert, and a cold merge.
 */
describe('snapshots end to end (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let dir: string;
  let vmId: string | undefined;
  let domain: { id: string; parent: string };
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 120) => (platform as Platform).api.settled(res, waitS);
  const serialSocket = () => join(dir, 'vms', vmId as string, 'serial.sock');
  const diskDir = (diskId: string) => join(domain.parent, domain.id, 'images', diskId);
  const volumes = (diskId: string) =>
    existsSync(diskDir(diskId)) ? readdirSync(diskDir(diskId)).sort() : [];
  const guestSum = async () => {
    const out = await guestShell(
      serialSocket(),
      'dd if=/dev/vda bs=1048576 count=32 2>/dev/null | md5sum',
      60_000,
    );
    return /([0-9a-f]{32})/.exec(out)?.[1];
  };
  const boot = () => bootGuestVm(platform as Platform, vmId as string);
  const stop = () => stopGuestVm(platform as Platform, vmId as string);

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-snap-',
      hostName: 'snap-host',
      engineEnv: { VIREO_ISO_DIR: sharedGuest.dir },
      agentImageDirs: [sharedGuest.dir],
    });
    dir = platform.dir;
    domain = await platform.addLocalDataDomain('snap-data');
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('live snapshot while the guest writes, live merge; then cold snapshot, preview, undo, revert, cold merge', async () => {
    const created = await createGuestVm(platform as Platform, {
      name: 'snap-vm',
      storageDomainId: domain.id,
      // Plain: the test reads the guest's bytes and checks the chain with qemu-img, which has no key
      // (encrypted-snapshots.test.ts covers encrypted chains).
      encrypted: false,
    });
    vmId = created.id as string;
    const diskId = created.disks[0].id as string;
    await boot();
    const [base] = volumes(diskId);

    // Live: snapshot in the middle of the guest's writes.
    await guestShell(
      serialSocket(),
      'dd if=/dev/urandom of=/dev/vda bs=1048576 count=8 conv=fsync 2>/dev/null',
      60_000,
    );
    await guestShell(
      serialSocket(),
      '{ (i=0; while [ $i -lt 200 ]; do dd if=/dev/urandom of=/dev/vda bs=65536 count=1 seek=$((128+i)) conv=fsync 2>/dev/null; i=$((i+1)); done; echo SNAPWRITER-""DONE) & }',
    );
    const taken = await call('POST', `/vms/${vmId}/snapshots`, { description: 'live' });
    const sid = taken.json.snapshot.id as string;
    expect((await settled(taken)).result).toMatchObject({ live: true });
    expect(volumes(diskId)).toHaveLength(2);
    await waitForText(join(dir, 'vms', vmId, 'serial.log'), 'SNAPWRITER-DONE', 120_000);
    const written = await guestSum();
    expect(written).toMatch(/^[0-9a-f]{32}$/);

    // Live merge: the overlay goes back into the base; the guest goes on writing to the base.
    const merged = await settled(await call('DELETE', `/vms/${vmId}/snapshots/${sid}`), 180);
    expect(merged.result).toMatchObject({ deleted: true, live: true });
    expect(volumes(diskId)).toEqual([base]);
    const basePath = join(diskDir(diskId), base as string);
    const check = JSON.parse(
      execFileSync('qemu-img', ['check', '-U', '--output=json', '-f', 'qcow2', basePath], {
        encoding: 'utf8',
      }),
    );
    expect(check['check-errors']).toBe(0);
    expect(await guestSum()).toBe(written);
    await stop();
    expect(await md5OfChain(dir, basePath, 32)).toBe(written);

    // Cold: snapshot, then new data, then preview shows the old data, undo the new, revert the old.
    const cold = await call('POST', `/vms/${vmId}/snapshots`, { description: 'cold' });
    const cid = cold.json.snapshot.id as string;
    expect((await settled(cold)).result).toMatchObject({ live: false });
    await boot();
    await guestShell(
      serialSocket(),
      'dd if=/dev/urandom of=/dev/vda bs=1048576 count=4 conv=fsync 2>/dev/null',
      60_000,
    );
    const newer = await guestSum();
    expect(newer).not.toBe(written);
    await stop();

    await settled(await call('POST', `/vms/${vmId}/snapshots/${cid}/preview`));
    expect((await call('GET', `/vms/${vmId}/snapshots/${cid}`)).json.state).toBe('in_preview');
    await boot();
    expect(await guestSum()).toBe(written);
    await stop();
    await settled(await call('POST', `/vms/${vmId}/snapshots/undo`));
    await boot();
    expect(await guestSum()).toBe(newer);
    await stop();

    await settled(await call('POST', `/vms/${vmId}/snapshots/${cid}/revert`));
    await boot();
    expect(await guestSum()).toBe(written);
    await stop();

    // Cold merge: the snapshot goes, one volume is left with the reverted bytes.
    const coldMerge = await settled(await call('DELETE', `/vms/${vmId}/snapshots/${cid}`));
    expect(coldMerge.result).toMatchObject({ deleted: true, live: false });
    expect(volumes(diskId)).toEqual([base]);
    expect(await md5OfChain(dir, basePath, 32)).toBe(written);
    expect((await call('GET', `/vms/${vmId}/snapshots`)).json.items).toEqual([]);
  }, 600_000);
});
