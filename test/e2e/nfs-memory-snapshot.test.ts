import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf } from '../../packages/agent/test/support/guest';
import { bootGuestVm, createGuestVm, guestSerial, stopGuestVm } from '../support/guest-vms';
import { startNfsServer, type TestNfsServer } from '../support/nfs-server';
import { type ApiAnswer, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/**
 * Memory snapshots of a VM whose disk is on an nfs data domain in userspace mode (ADR 027 decision
 * 15): QEMU saves the RAM into a staging file in the VM's state directory, the agent streams it onto
 * the export (`images/<disk>/<snapshot>.memory`, temporary name + rename) and removes the staging
 * file; after a revert the next start streams it back, and the guest resumes its RAM-only state
 * (a file in its initramfs root) without booting.
 */
describe('memory snapshot on a userspace-mode nfs domain (engine + agent + QEMU + ganesha)', () => {
  let server: TestNfsServer;
  let platform: Platform | undefined;
  let dataId = '';
  let vmId: string | undefined;
  const savedMode = process.env.VIREO_AGENT_NFS_MODE;
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 180) => (platform as Platform).api.settled(res, waitS);
  const vmDir = () => join((platform as Platform).dir, 'vms', vmId as string);
  const shell = (command: string) =>
    guestShell(guestSerial(platform as Platform, vmId as string).socket, command, 60_000);
  const stop = () => stopGuestVm(platform as Platform, vmId as string);
  /** Files of the VM's state dir that are staged memory states. */
  const staged = () =>
    fs.existsSync(vmDir()) ? fs.readdirSync(vmDir()).filter((f) => f.includes('.memory')) : [];

  beforeAll(async () => {
    assertTestGuestBuilt();
    server = await startNfsServer('nfsmem');
    process.env.VIREO_AGENT_NFS_MODE = 'userspace';
    platform = await startPlatform({
      prefix: 'vireo-nfsmem-',
      hostName: 'nfsmem-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    const created = await call('POST', '/storage-domains', {
      name: 'nfsmem-data',
      kind: 'data',
      backend: 'nfs',
      nfs_server: server.address,
      nfs_export: server.exportPath,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    dataId = created.json.id as string;
    await settled(
      await call('POST', `/storage-domains/${dataId}/attach`, {
        datacenter_id: platform.cluster.datacenter_id,
      }),
    );
    await settled(await call('POST', `/storage-domains/${dataId}/activate`, {}));
    await until(
      'nfs domain active',
      async () => (await call('GET', `/storage-domains/${dataId}`)).json.state === 'active',
    );
  }, 240_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
    await server?.stop();
    if (savedMode === undefined) delete process.env.VIREO_AGENT_NFS_MODE;
    else process.env.VIREO_AGENT_NFS_MODE = savedMode;
  });

  it('a live memory snapshot lands on the export; a revert resumes the saved RAM without a boot', async () => {
    const vm = await createGuestVm(platform as Platform, {
      name: 'nfsmem-vm',
      storageDomainId: dataId,
      memoryMib: 128,
    });
    vmId = vm.id as string;
    const diskId = vm.disks[0].id as string;
    const diskDir = join(server.dir, dataId, 'images', diskId);
    await bootGuestVm(platform as Platform, vmId);

    const before = `NFS-RAM-BEFORE-${randomBytes(4).toString('hex')}`;
    await shell(`echo ${before} > /tmp/state`);
    const taken = await call('POST', `/vms/${vmId}/snapshots`, {
      description: 'memory on nfs',
      memory: true,
    });
    expect(taken.status, JSON.stringify(taken.json)).toBe(202);
    const sid = taken.json.snapshot.id as string;
    await settled(taken);
    expect((await call('GET', `/vms/${vmId}/snapshots/${sid}`)).json).toMatchObject({
      state: 'ok',
      memory: true,
    });
    // The state is on the export under its layout name, whole (QEMU's stream starts with "QEVM"),
    // no temporary file next to it, and no staging file left in the VM's state directory.
    const statePath = join(diskDir, `${sid}.memory`);
    const head = Buffer.alloc(4);
    const fd = fs.openSync(statePath, 'r');
    try {
      fs.readSync(fd, head, 0, 4, 0);
    } finally {
      fs.closeSync(fd);
    }
    expect(head.toString('latin1')).toBe('QEVM');
    expect(fs.statSync(statePath).size).toBeGreaterThan(1024 * 1024);
    expect(fs.readdirSync(diskDir).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(staged()).toEqual([]);

    await shell('echo NFS-RAM-AFTER > /tmp/state');
    expect(await shell('cat /tmp/state')).toContain('NFS-RAM-AFTER');
    await stop();

    await settled(await call('POST', `/vms/${vmId}/snapshots/${sid}/revert`));
    await settled(await call('POST', `/vms/${vmId}/start`), 240);
    expect((await call('GET', `/vms/${vmId}`)).json.state).toBe('up');
    // The saved RAM runs on: the old value, and QEMU's fresh serial log shows no boot.
    const state = await shell('cat /tmp/state');
    expect(state).toContain(before);
    expect(state).not.toContain('NFS-RAM-AFTER');
    expect(await readFile(join(vmDir(), 'serial.log'), 'utf8')).not.toContain(testGuest.marker);
    // The staged copy is gone; the state stays on the export with the snapshot.
    expect(staged()).toEqual([]);
    expect(fs.existsSync(statePath)).toBe(true);
    await stop();
  }, 600_000);
});
