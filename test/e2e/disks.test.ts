import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf, qemuPidsFor, waitForText } from '../../packages/agent/test/support/guest';
import { runCli, loginCli } from '../cli/support/cli';
import type { EngineProcess } from '../support/engine';
import { type ApiAnswer, type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const MiB = 1024 ** 2;

/**
 * Disks end to end: real engine binary, a real enrolled agent, real QEMU (TCG) with the test guest,
 * two local data domains on the host. One VM goes through create, hot-plug, online extend, move with
 * the VM down, a second start, and deletion with its disks.
 */
describe('disks end to end (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let dir: string;
  let vmId: string | undefined;
  const domains: Record<'a' | 'b', { id: string; parent: string }> = {
    a: { id: '', parent: '' },
    b: { id: '', parent: '' },
  };
  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) =>
    (platform as Platform).api.call(method, p, body, headers);
  const settled = (res: ApiAnswer, waitS = 60) => (platform as Platform).api.settled(res, waitS);
  const serialSocket = () => join(dir, 'vms', vmId as string, 'serial.sock');
  /** Sectors of a guest block device, as the guest's kernel sees them (0 when absent). */
  const guestSectors = async (dev: string) =>
    Number((await guestShell(serialSocket(), `cat /sys/block/${dev}/size 2>/dev/null || echo 0`)).trim());
  const volumeFiles = (domain: { id: string; parent: string }, diskId: string) => {
    const diskDir = join(domain.parent, domain.id, 'images', diskId);
    return fs.existsSync(diskDir) ? fs.readdirSync(diskDir).map((f) => join(diskDir, f)) : [];
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-disks-',
      hostName: 'disk-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    ({ engine, dir } = platform);
    domains.a = await platform.addLocalDataDomain('disks-a');
    domains.b = await platform.addLocalDataDomain('disks-b');
  }, 180_000);

  afterAll(async () => {
    // Whatever failed above, no QEMU and no agent outlive the test.
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('VM disk in a data domain, hot-plug, online extend, move while down with the data intact, delete with the disks', async () => {
    const created = await call('POST', '/vms', {
      name: 'disk-vm',
      cluster_id: (await call('GET', '/clusters')).json.items[0].id,
      memory_mib: 256,
      boot_order: ['cdrom', 'disk'],
      cdrom: { image: 'test-guest.iso' },
      disks: [{ size_gib: 1, storage_domain_id: domains.a.id }],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmId = created.json.id as string;
    const rootDisk = created.json.disks[0].id as string;
    expect(created.json.disks[0]).toMatchObject({ storage_domain_id: domains.a.id, size_gib: 1 });

    await settled(await call('POST', `/vms/${vmId}/start`), 90);
    // The volume exists in domain A, as <path>/<domain>/images/<disk>/<volume>.
    expect(volumeFiles(domains.a, rootDisk)).toHaveLength(1);
    await waitForText(join(dir, 'vms', vmId, 'serial.log'), testGuest.marker, 90_000);
    expect(await guestSectors('vda')).toBe((1024 * MiB) / 512);

    // A floating disk, hot-plugged into the running guest.
    const made = await call('POST', '/disks', {
      name: 'data1',
      storage_domain_id: domains.a.id,
      size_bytes: 64 * MiB,
    });
    await settled(made);
    const dataDisk = made.json.disk.id as string;
    const plug = await call('POST', `/vms/${vmId}/disk-attachments`, { disk_id: dataDisk });
    await settled(plug);
    await until('the guest sees vdb', async () => (await guestSectors('vdb')) === (64 * MiB) / 512, 30_000);

    // Online extend: QMP block_resize; the guest and qemu-img (-U: QEMU holds it) see the new size.
    const grow = await call('PATCH', `/disks/${dataDisk}`, { size_bytes: 128 * MiB }, { 'if-match': '*' });
    const grown = await settled(grow);
    expect(grown.result).toMatchObject({ online: true, size_bytes: 128 * MiB });
    await until(
      'the guest sees vdb grown',
      async () => (await guestSectors('vdb')) === (128 * MiB) / 512,
      30_000,
    );
    const [volume] = volumeFiles(domains.a, dataDisk);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', volume as string], {
        encoding: 'utf8',
      }),
    );
    expect(info['virtual-size']).toBe(128 * MiB);

    // Data the guest writes must survive the move.
    const sum = (
      await guestShell(
        serialSocket(),
        'dd if=/dev/urandom of=/dev/vdb bs=1M count=8 2>/dev/null; sync; md5sum /dev/vdb',
        60_000,
      )
    )
      .trim()
      .split(/\s+/)[0];
    expect(sum).toMatch(/^[0-9a-f]{32}$/);
    // Moving a disk of a running VM is refused.
    const busy = await call('POST', `/disks/${dataDisk}/move`, { storage_domain_id: domains.b.id });
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe('disk_in_use');

    await settled(await call('POST', `/vms/${vmId}/stop`));
    await until('QEMU gone', async () => (await qemuPidsFor(vmId as string)).length === 0, 15_000);
    const moved = await settled(
      await call('POST', `/disks/${dataDisk}/move`, { storage_domain_id: domains.b.id }),
      60,
    );
    expect(moved.progress).toBe(1);
    expect(moved.result).toMatchObject({ storage_domain_id: domains.b.id, left_behind: false });
    expect(volumeFiles(domains.a, dataDisk)).toEqual([]);
    expect(volumeFiles(domains.b, dataDisk)).toHaveLength(1);
    expect((await call('GET', `/disks/${dataDisk}`)).json).toMatchObject({
      storage_domain_id: domains.b.id,
      state: 'ok',
      size_bytes: 128 * MiB,
    });

    // The next start uses the moved volume: same bytes, same size.
    await settled(await call('POST', `/vms/${vmId}/start`), 90);
    await waitForText(join(dir, 'vms', vmId, 'serial.log'), testGuest.marker, 90_000);
    expect(await guestSectors('vdb')).toBe((128 * MiB) / 512);
    const again = (await guestShell(serialSocket(), 'md5sum /dev/vdb', 60_000)).trim().split(/\s+/)[0];
    expect(again).toBe(sum);
    const vm = (await call('GET', `/vms/${vmId}`)).json;
    expect(vm.disks.map((d: Json) => [d.id, d.storage_domain_id])).toEqual([
      [rootDisk, domains.a.id],
      [dataDisk, domains.b.id],
    ]);
    const inUse = await call('DELETE', `/disks/${dataDisk}`);
    expect(inUse.json.error.code).toBe('disk_in_use');

    // Deleting the VM with its disks removes their volumes from both domains.
    await settled(await call('POST', `/vms/${vmId}/stop`));
    const del = await settled(await call('DELETE', `/vms/${vmId}`));
    expect([...del.result.removed_disk_ids].sort()).toEqual([rootDisk, dataDisk].sort());
    expect(volumeFiles(domains.a, rootDisk)).toEqual([]);
    expect(volumeFiles(domains.b, dataDisk)).toEqual([]);
    expect((await call('GET', `/disks?search=data1`)).json.items).toEqual([]);
    vmId = undefined;
  }, 300_000);

  it('the vireo disk commands: create, list, extend, move with progress, delete', async () => {
    const home = join(dir, 'cli-home');
    fs.mkdirSync(home);
    const cli = (args: string[], input?: string) => runCli(args, home, input === undefined ? {} : { input });
    const login = await loginCli(home, engine);
    expect(login.code, login.stderr).toBe(0);

    const created = await cli([
      'disk',
      'create',
      'cli-d1',
      '--storage-domain',
      'disks-a',
      '--size',
      '64M',
      '--wait',
      '-o',
      'json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const disk = JSON.parse(created.stdout);
    expect(disk).toMatchObject({
      name: 'cli-d1',
      state: 'ok',
      size_bytes: 64 * MiB,
      storage_domain_id: domains.a.id,
    });
    expect(volumeFiles(domains.a, disk.id)).toHaveLength(1);

    const listed = await cli(['disk', 'list', '--storage-domain', 'disks-a']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`cli-d1\\s+${disk.id}\\s+64 MiB\\s+qcow2\\s+ok`));

    const extended = await cli(['disk', 'extend', 'cli-d1', '128M', '--wait', '-o', 'json']);
    expect(extended.code, extended.stderr).toBe(0);
    expect(JSON.parse(extended.stdout)).toMatchObject({ size_bytes: 128 * MiB, state: 'ok' });
    const shrink = await cli(['disk', 'extend', 'cli-d1', '64M']);
    expect(shrink.code).not.toBe(0);
    expect(shrink.stderr).toContain('disk_shrink_not_allowed');

    const moved = await cli(['disk', 'move', 'cli-d1', 'disks-b', '--wait', '-o', 'json']);
    expect(moved.code, moved.stderr).toBe(0);
    // Progress goes to stderr (one line per change when not on a terminal), the disk to stdout.
    expect(moved.stderr).toMatch(/operation disk\.move [0-9a-f-]+: succeeded 100%/);
    expect(JSON.parse(moved.stdout)).toMatchObject({ id: disk.id, storage_domain_id: domains.b.id });
    expect(volumeFiles(domains.a, disk.id)).toEqual([]);
    expect(volumeFiles(domains.b, disk.id)).toHaveLength(1);

    const deleted = await cli(['disk', 'delete', 'cli-d1', '--wait']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(volumeFiles(domains.b, disk.id)).toEqual([]);
    const gone = await cli(['disk', 'show', 'cli-d1']);
    expect(gone.code).toBe(3);
  }, 120_000);
});
