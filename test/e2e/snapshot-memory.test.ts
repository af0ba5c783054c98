import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf } from '../../packages/agent/test/support/guest';
import { bootGuestVm, createGuestVm, stopGuestVm } from '../support/guest-vms';
import { type ApiAnswer, type Platform, startPlatform } from '../support/platform';
import { testGuest } from '../support/test-guest';

/**
 * Memory snapshot restore through the engine: the guest keeps a value only in RAM (a file in its
 * initramfs root), a snapshot saves the memory, the value changes, the VM stops; after a revert the
 * next start resumes the saved RAM — the guest answers with the old value and never boots (no boot
 * marker in the new serial log). The start after that boots normally: a restore is used once.
 */
describe('memory snapshot restore (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let vmId: string | undefined;
  let domain: { id: string; parent: string };
  const api = () => (platform as Platform).api;
  const call = (method: string, p: string, body?: unknown) => api().call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 120) => api().settled(res, waitS);
  const vmDir = () => join((platform as Platform).dir, 'vms', vmId as string);
  const shell = (command: string) => guestShell(join(vmDir(), 'serial.sock'), command, 60_000);
  const stop = () => stopGuestVm(platform as Platform, vmId as string);

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-snapmem-',
      hostName: 'snapmem-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    domain = await platform.addLocalDataDomain('snapmem-data');
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('revert of a memory snapshot resumes the saved RAM on the next start, without a boot', async () => {
    const created = await createGuestVm(platform as Platform, {
      name: 'snapmem-vm',
      storageDomainId: domain.id,
      memoryMib: 128,
    });
    vmId = created.id as string;
    await bootGuestVm(platform as Platform, vmId);

    const before = `RAM-BEFORE-${randomBytes(4).toString('hex')}`;
    await shell(`echo ${before} > /tmp/state`);
    const taken = await call('POST', `/vms/${vmId}/snapshots`, { description: 'with memory', memory: true });
    expect(taken.status, JSON.stringify(taken.json)).toBe(202);
    const sid = taken.json.snapshot.id as string;
    await settled(taken, 180);
    expect((await call('GET', `/vms/${vmId}/snapshots/${sid}`)).json).toMatchObject({
      state: 'ok',
      memory: true,
    });
    await shell('echo RAM-AFTER > /tmp/state');
    expect(await shell('cat /tmp/state')).toContain('RAM-AFTER');
    await stop();

    await settled(await call('POST', `/vms/${vmId}/snapshots/${sid}/revert`));
    await settled(await call('POST', `/vms/${vmId}/start`), 180);
    expect((await call('GET', `/vms/${vmId}`)).json.state).toBe('up');
    // The saved RAM runs on: the old value, and QEMU's fresh serial log shows no boot.
    const state = await shell('cat /tmp/state');
    expect(state).toContain(before);
    expect(state).not.toContain('RAM-AFTER');
    expect(await readFile(join(vmDir(), 'serial.log'), 'utf8')).not.toContain(testGuest.marker);
    await stop();

    // Used once: the next start boots, and the RAM-only value is gone.
    await bootGuestVm(platform as Platform, vmId);
    expect(await shell('cat /tmp/state 2>&1')).not.toContain(before);
    await stop();
  }, 600_000);
});
