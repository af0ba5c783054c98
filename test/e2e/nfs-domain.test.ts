import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf } from '../../packages/agent/test/support/guest';
import {
  bootGuestVm,
  createGuestVm,
  guestSerial,
  readDiskStamp,
  stopGuestVm,
  writeDiskStamp,
} from '../support/guest-vms';
import { startNfsServer, type TestNfsServer } from '../support/nfs-server';
import { type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * nfs storage domains against a real NFS server (nfs-ganesha in a test network namespace). The
 * agent runs in userspace mode (no kernel NFS client here; forced, so the test means the same on a
 * host that has one): domain metadata and directories over the agent's NFSv3 client, the VM's disk
 * and CD-ROM through QEMU's nfs driver (ADR 027).
 */
describe('nfs storage domains (userspace mode)', () => {
  let server: TestNfsServer;
  let platform: Platform;
  let vmId: string | undefined;
  const savedMode = process.env.VIREO_AGENT_NFS_MODE;

  beforeAll(async () => {
    assertTestGuestBuilt();
    server = await startNfsServer('nfse2e');
    // The agent inherits the environment: userspace mode whatever the kernel offers.
    process.env.VIREO_AGENT_NFS_MODE = 'userspace';
    platform = await startPlatform({ prefix: 'vireo-nfs-', hostName: 'nfs-host' });
  }, 240_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
    await server?.stop();
    if (savedMode === undefined) delete process.env.VIREO_AGENT_NFS_MODE;
    else process.env.VIREO_AGENT_NFS_MODE = savedMode;
  });

  it('data and ISO domains on NFS: attach, activate, capacity, a disk, a VM booting from both, cleanup', async () => {
    const { api } = platform;
    const host = (await api.call('GET', `/hosts/${platform.hostId}`)).json;
    expect(host.capabilities.storage.nfs.mode).toBe('userspace');

    const make = async (name: string, kind: 'data' | 'iso'): Promise<string> => {
      const created = await api.call('POST', '/storage-domains', {
        name,
        kind,
        backend: 'nfs',
        nfs_server: server.address,
        nfs_export: server.exportPath,
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const id = created.json.id as string;
      await api.settled(
        await api.call('POST', `/storage-domains/${id}/attach`, {
          datacenter_id: platform.cluster.datacenter_id,
        }),
      );
      await api.settled(await api.call('POST', `/storage-domains/${id}/activate`, {}));
      await until(
        `${name} active`,
        async () => (await api.call('GET', `/storage-domains/${id}`)).json.state === 'active',
      );
      return id;
    };
    const dataId = await make('nfs-data', 'data');
    const isoId = await make('nfs-iso', 'iso');

    // The metadata is on the server; capacity is the export's (FSSTAT).
    const md = JSON.parse(fs.readFileSync(join(server.dir, dataId, 'dom_md', 'metadata.json'), 'utf8'));
    expect(md).toMatchObject({ id: dataId, kind: 'data', name: 'nfs-data' });
    expect(md.owner_engine_id).toMatch(/^[0-9a-f-]{36}$/);
    const data = (await api.call('GET', `/storage-domains/${dataId}`)).json;
    expect(data.total_bytes).toBeGreaterThan(0);
    expect(data.free_bytes).toBeGreaterThan(0);

    // The test guest ISO goes onto the export as another NFS client would put it; the domain lists it.
    fs.copyFileSync(testGuest.iso, join(server.dir, isoId, 'images', 'iso', 'test-guest.iso'));
    const isos = (await api.call('GET', `/storage-domains/${isoId}/isos`)).json;
    expect(isos.files.map((f: Json) => f.name)).toEqual(['test-guest.iso']);

    // The domain's unregistered disks are scanned through the agent's NFS client: none yet.
    const scan = await api.call('GET', `/storage-domains/${dataId}/unregistered`);
    expect(scan.status, JSON.stringify(scan.json)).toBe(200);
    expect(scan.json.disks).toEqual([]);

    // A VM whose disk is on the nfs data domain and whose CD-ROM is the ISO on the nfs ISO domain.
    const vm = await createGuestVm(platform, {
      name: 'nfs-vm',
      storageDomainId: dataId,
      extra: {
        cdrom: { storage_domain_id: isoId, file: 'test-guest.iso' },
        // A plain disk and an encrypted one (LUKS in qcow2, the key handed to QEMU as a secret).
        disks: [
          { size_gib: 1, storage_domain_id: dataId, encrypted: false },
          { size_gib: 1, storage_domain_id: dataId, encrypted: true },
        ],
      },
    });
    vmId = vm.id as string;
    const diskId = vm.disks[0].id as string;
    const diskDir = join(server.dir, dataId, 'images', diskId);
    const encDir = join(server.dir, dataId, 'images', vm.disks[1].id as string);
    // The engine creates a VM disk's volume at its first start: on the export, through qemu-img's nfs driver.
    await bootGuestVm(platform, vmId);
    expect(fs.readdirSync(diskDir)).toHaveLength(1);
    const stamp = `nfs-stamp-${Date.now()}`;
    await writeDiskStamp(platform, vmId, stamp);
    expect(await readDiskStamp(platform, vmId, stamp.length)).toBe(stamp);
    // The encrypted disk is the guest's second one: what it writes there is not plain on the server.
    const secret = `nfs-secret-${Date.now()}`;
    const serial = guestSerial(platform, vmId).socket;
    await guestShell(serial, `printf ${secret} > /dev/vdb; sync`, 60_000);
    const sectors = async (dev: string) =>
      Number((await guestShell(serial, `cat /sys/block/${dev}/size 2>/dev/null || echo 0`, 30_000)).trim());

    // Online extend: QMP block_resize on the disk's node (the nfs protocol under it does not matter).
    const online = await api.settled(
      await api.call('PATCH', `/disks/${diskId}`, { size_gib: 2 }, { 'if-match': '*' }),
    );
    expect(online.result, JSON.stringify(online)).toMatchObject({ online: true });
    await until('the guest sees vda grown', async () => (await sectors('vda')) === (2 * GiB) / 512, 30_000);

    // Hot-plug of a new disk on the nfs domain (encrypted by default: its key goes in as a QMP
    // secret), the guest writes and reads it back, then hot-unplug.
    const made = await api.call('POST', '/disks', {
      name: 'nfs-hot',
      storage_domain_id: dataId,
      size_bytes: 64 * MiB,
    });
    await api.settled(made);
    const hotId = made.json.disk.id as string;
    await api.settled(await api.call('POST', `/vms/${vmId}/disk-attachments`, { disk_id: hotId }));
    await until('the guest sees vdc', async () => (await sectors('vdc')) === (64 * MiB) / 512, 60_000);
    const sums = (
      await guestShell(
        serial,
        'dd if=/dev/urandom of=/tmp/h bs=1M count=4 2>/dev/null; dd if=/tmp/h of=/dev/vdc bs=1M 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /tmp/h; dd if=/dev/vdc bs=1M count=4 2>/dev/null | md5sum',
        60_000,
      )
    )
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0]);
    expect(sums[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(sums[1]).toBe(sums[0]);
    await api.settled(await api.call('DELETE', `/vms/${vmId}/disk-attachments/${hotId}`));
    await until('the guest lost vdc', async () => (await sectors('vdc')) === 0, 60_000);
    await api.settled(await api.call('DELETE', `/disks/${hotId}`));
    await until('the hot disk gone', async () => !fs.existsSync(join(server.dir, dataId, 'images', hotId)));
    await stopGuestVm(platform, vmId);
    const encVolume = fs.readFileSync(join(encDir, fs.readdirSync(encDir)[0] as string));
    expect(encVolume.readUInt32BE(32)).toBe(2);
    expect(encVolume.includes(Buffer.from(secret))).toBe(false);

    // Offline extend of the encrypted disk: qemu-img resize through the nfs driver with the disk's key.
    const encId = vm.disks[1].id as string;
    const offline = await api.settled(
      await api.call('PATCH', `/disks/${encId}`, { size_gib: 2 }, { 'if-match': '*' }),
    );
    expect(offline.result, JSON.stringify(offline)).not.toMatchObject({ online: true });
    expect((await api.call('GET', `/disks/${encId}`)).json.size_gib).toBe(2);
    const encInfo = JSON.parse(
      (
        await run('qemu-img', [
          'info',
          '--output=json',
          '-f',
          'qcow2',
          join(encDir, fs.readdirSync(encDir)[0] as string),
        ])
      ).stdout,
    );
    expect(encInfo['virtual-size']).toBe(2 * GiB);
    // The guest's write reached the image on the server.
    const volume = join(diskDir, fs.readdirSync(diskDir)[0] as string);
    const out = join(platform.dir, 'stamp.raw');
    await run('qemu-img', [
      'dd',
      '-f',
      'qcow2',
      '-O',
      'raw',
      `bs=${stamp.length}`,
      'count=1',
      `if=${volume}`,
      `of=${out}`,
    ]);
    expect(fs.readFileSync(out).subarray(0, stamp.length).toString('latin1')).toBe(stamp);

    // Copy nfs → local (qemu-img convert from the nfs:// URL), then move the copy local → nfs: the
    // guest's stamp survives both ways.
    const local = await platform.addLocalDataDomain('local-data');
    const copied = await api.call('POST', `/disks/${diskId}/copy`, {
      storage_domain_id: local.id,
      name: 'nfs-copy',
    });
    expect(copied.status, JSON.stringify(copied.json)).toBe(202);
    await api.settled(copied);
    const copyId = copied.json.disk.id as string;
    const readStamp = async (file: string) => {
      const at = join(platform.dir, `stamp-${Date.now()}.raw`);
      await run('qemu-img', [
        'dd',
        '-f',
        'qcow2',
        '-O',
        'raw',
        `bs=${stamp.length}`,
        'count=1',
        `if=${file}`,
        `of=${at}`,
      ]);
      return fs.readFileSync(at).subarray(0, stamp.length).toString('latin1');
    };
    const localDir = join(local.parent, local.id, 'images', copyId);
    expect(await readStamp(join(localDir, fs.readdirSync(localDir)[0] as string))).toBe(stamp);
    await api.settled(await api.call('POST', `/disks/${copyId}/move`, { storage_domain_id: dataId }));
    await until('the copy left the local domain', async () => !fs.existsSync(localDir));
    const movedDir = join(server.dir, dataId, 'images', copyId);
    expect(await readStamp(join(movedDir, fs.readdirSync(movedDir)[0] as string))).toBe(stamp);
    expect((await api.call('GET', `/disks/${copyId}`)).json.storage_domain_id).toBe(dataId);
    await api.settled(await api.call('DELETE', `/disks/${copyId}`));
    await until('the moved copy gone', async () => !fs.existsSync(movedDir));

    // Deleting the VM with its disks removes the disk directory on the export.
    await api.settled(await api.call('DELETE', `/vms/${vmId}?remove_disks=true`));
    await until(
      'the disk directories gone',
      async () => !fs.existsSync(diskDir) && !fs.existsSync(encDir),
      60_000,
    );
    vmId = undefined;

    // Maintenance, detach (the owner is released on storage), remove.
    for (const id of [dataId, isoId]) {
      await api.settled(await api.call('POST', `/storage-domains/${id}/maintenance`, {}));
      await api.settled(await api.call('POST', `/storage-domains/${id}/detach`, {}));
      const released = JSON.parse(fs.readFileSync(join(server.dir, id, 'dom_md', 'metadata.json'), 'utf8'));
      expect(released.owner_engine_id).toBeNull();
      const gone = await api.call('DELETE', `/storage-domains/${id}`);
      expect(gone.status, JSON.stringify(gone.json)).toBe(204);
    }

    // The removed domains are still on the export with their metadata: an import finds both.
    const imported = await api.call('POST', '/storage-domains/import', {
      backend: 'nfs',
      nfs_server: server.address,
      nfs_export: server.exportPath,
    });
    expect(imported.status, JSON.stringify(imported.json)).toBe(201);
    expect(imported.json.domains.map((d: Json) => d.id).sort()).toEqual([dataId, isoId].sort());
    for (const id of [dataId, isoId])
      expect((await api.call('DELETE', `/storage-domains/${id}`)).status).toBe(204);
  }, 600_000);
});
