import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf } from '../../packages/agent/test/support/guest';
import { removeDataDir, runEngineCommand, startEngine } from '../support/engine';
import { bootGuestVm, stopGuestVm } from '../support/guest-vms';
import { type ApiAnswer, type Platform, startPlatform, until } from '../support/platform';
import { testGuest } from '../support/test-guest';

const MiB = 1024 * 1024;

/**
 * Disk master key rotation (`vireo-engine keys rotate`) with a real engine, agent and QEMU: refused
 * while the engine runs; with the engine stopped it re-wraps the encrypted disk's key under a new
 * master key (new key file, same mode, audit event); the engine starts on the new key and the VM
 * with the encrypted disk starts and reads back what the guest wrote before the rotation.
 */
describe('disk master key rotation (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let vmId: string | undefined;
  let dataDir: string | undefined;
  let domain: { id: string; parent: string };
  const env = { VIREO_HOST_HEARTBEAT_MS: '300', VIREO_ISO_DIR: testGuest.dir, VIREO_STORAGE_REFRESH_S: '5' };
  const api = () => (platform as Platform).api;
  const call = (method: string, p: string, body?: unknown) => api().call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 120) => api().settled(res, waitS);
  const vmDir = () => join((platform as Platform).dir, 'vms', vmId as string);
  const boot = () => bootGuestVm(platform as Platform, vmId as string);
  const stop = () => stopGuestVm(platform as Platform, vmId as string);

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-keyrot-',
      hostName: 'keyrot-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir, VIREO_STORAGE_REFRESH_S: '5' },
      agentImageDirs: [testGuest.dir],
    });
    dataDir = platform.engine.dataDir;
    domain = await platform.addLocalDataDomain('keyrot-data');
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
    // The engine started after the rotation does not own the data directory.
    if (dataDir) await removeDataDir(dataDir);
  });

  it('re-wraps the disk keys offline; the encrypted VM starts on the new key with its data', async () => {
    const p = platform as Platform;
    const disk = await call('POST', '/disks', {
      name: 'keyrot-secret',
      storage_domain_id: domain.id,
      size_bytes: 64 * MiB,
      format: 'qcow2',
      encrypted: true,
    });
    await settled(disk, 180);
    const diskId = disk.json.disk.id as string;
    const created = await call('POST', '/vms', {
      name: 'keyrot-vm',
      cluster_id: p.cluster.id,
      memory_mib: 128,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmId = created.json.id as string;
    expect((await call('POST', `/vms/${vmId}/disk-attachments`, { disk_id: diskId })).status).toBe(201);
    await boot();
    const mark = `VIREO-KEYROT-${Date.now().toString(36)}`;
    await guestShell(
      join(vmDir(), 'serial.sock'),
      `printf '${mark}' | dd of=/dev/vda bs=512 conv=fsync 2>/dev/null`,
      60_000,
    );
    await stop();

    const keyFile = join(p.engine.dataDir, 'secrets', 'disk-master.key');
    const before = readFileSync(keyFile, 'utf8');
    // Refused while the engine runs (it holds the key in memory and the pid file).
    const busy = await runEngineCommand(['keys', 'rotate'], { env: { VIREO_DATA_DIR: p.engine.dataDir } });
    expect(busy.status).not.toBe(0);
    expect(busy.stderr).toMatch(/already running/);
    expect(readFileSync(keyFile, 'utf8')).toBe(before);

    // Stop the engine (keeping its data directory), rotate, start it again.
    const old = p.engine;
    process.kill(old.pid, 'SIGTERM');
    await until('the engine stopped', async () => !existsSync(`/proc/${old.pid}`), 60_000);
    const rotated = await runEngineCommand(['keys', 'rotate', '--json'], {
      env: { VIREO_DATA_DIR: old.dataDir },
      timeoutMs: 120_000,
    });
    expect(rotated.status, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout);
    expect(result).toMatchObject({ rewrapped: 1, already: 0, resumed: false });
    expect(result.master_key_id).not.toBe(result.previous_master_key_id);
    const after = readFileSync(keyFile, 'utf8');
    expect(after).not.toBe(before);
    expect(existsSync(`${keyFile}.next`)).toBe(false);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    const engine = await startEngine({ dataDir: old.dataDir, env, adminPassword: old.adminPassword ?? null });
    engine.adminPassword = old.adminPassword;
    p.engine = engine;
    api().engine = engine;
    await api().login();
    await until(
      'the host up again',
      async () => (await call('GET', `/hosts/${p.hostId}`)).json.state === 'up',
    );
    // The domain went inactive while its host had no engine; the next refresh activates it again.
    await until(
      'the data domain active again',
      async () => (await call('GET', `/storage-domains/${domain.id}`)).json.state === 'active',
      90_000,
    );
    const events = (await call('GET', '/events?kind=engine.master_key_rotated')).json.items;
    expect(events).toHaveLength(1);
    expect(events[0].details).toMatchObject({
      previous_master_key_id: result.previous_master_key_id,
      master_key_id: result.master_key_id,
      rewrapped: 1,
    });
    expect(JSON.stringify(events[0])).not.toContain(after.trim());

    await boot();
    const read = await guestShell(join(vmDir(), 'serial.sock'), `head -c ${mark.length} /dev/vda`, 60_000);
    expect(read).toContain(mark);
    await stop();
  }, 600_000);
});
