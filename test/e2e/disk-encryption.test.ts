import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf, qemuPidsFor, waitForText } from '../../packages/agent/test/support/guest';
import { runCli, loginCli } from '../cli/support/cli';
import type { EngineProcess } from '../support/engine';
import { type ApiAnswer, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const MiB = 1024 ** 2;

/**
 * Encrypted disks end to end: the API creates a disk with `encrypted: true`, the engine keeps its
 * key wrapped under the master key, the agent creates a LUKS-in-qcow2 volume and hands the key to
 * QEMU at each start through a 0600 file. The guest's bytes survive a restart (the key unwraps
 * again) and never appear in the volume file.
 */
describe('encrypted disks end to end (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let dir: string;
  let domain = { id: '', parent: '' };
  let vmId: string | undefined;

  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 90) => (platform as Platform).api.settled(res, waitS);

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-enc-',
      hostName: 'enc-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    ({ engine, dir } = platform);
    domain = await platform.addLocalDataDomain('enc-data');
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
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
    const login = await loginCli(home, engine);
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
    const master = fs.statSync(join(engine.dataDir, 'secrets', 'disk-master.key'));
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
    // Copies: encrypted-disk-copy.test.ts; snapshots and hot-plug: encrypted-snapshots.test.ts.

    const serialLog = join(dir, 'vms', vmId, 'serial.log');
    const serialSocket = join(dir, 'vms', vmId, 'serial.sock');
    await settled(await call('POST', `/vms/${vmId}/start`));
    const [pid] = await qemuPidsFor(vmId);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // An encrypted disk's layers are explicit -blockdev JSON nodes, each naming its secret.
    expect(cmdline.some((a) => a.includes(`"key-secret":"key-${diskId}"`))).toBe(true);
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
    const logs = [engine.stdout(), engine.stderr(), (platform as Platform).agent.stderr()].join('\n');
    expect(logs).toContain(diskId);
    expect(logs.match(keyShape)).toBeNull();
  }, 400_000);
});
