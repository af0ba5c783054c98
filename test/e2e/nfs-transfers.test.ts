import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { ApiError, createTransfer, downloadImage, uploadImage, VireoClient } from '@vireo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import { bootGuestVm, createGuestVm, readDiskStamp, stopGuestVm, writeDiskStamp } from '../support/guest-vms';
import { startNfsServer, type TestNfsServer } from '../support/nfs-server';
import { type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const MiB = 1024 * 1024;
const STAMP = 'vireo-nfs-xfer-stamp-5b1e';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** Every path under `dir`, sorted (empty when it does not exist). */
const tree = (dir: string) =>
  fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).sort() : [];

/**
 * Uploads, downloads and encrypted copies on nfs domains served in userspace mode (ADR 027),
 * through the engine API against a real NFS server (nfs-ganesha in a test network namespace).
 */
describe('nfs domains in userspace mode: uploads, downloads, encrypted move and copy', () => {
  let server: TestNfsServer;
  let platform: Platform;
  let client: VireoClient;
  let work: string;
  let nfsData: string;
  let nfsIso: string;
  const local = { id: '', parent: '' };
  const vmIds = new Set<string>();
  const savedMode = process.env.VIREO_AGENT_NFS_MODE;

  const call = (method: string, p: string, body?: unknown) => platform.api.call(method, p, body);

  const nfsDomain = async (name: string, kind: 'data' | 'iso'): Promise<string> => {
    const created = await call('POST', '/storage-domains', {
      name,
      kind,
      backend: 'nfs',
      nfs_server: server.address,
      nfs_export: server.exportPath,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    await platform.api.settled(
      await call('POST', `/storage-domains/${id}/attach`, { datacenter_id: platform.cluster.datacenter_id }),
    );
    await platform.api.settled(await call('POST', `/storage-domains/${id}/activate`, {}));
    await until(
      `${name} active`,
      async () => (await call('GET', `/storage-domains/${id}`)).json.state === 'active',
    );
    return id;
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    server = await startNfsServer('nfsxfer');
    process.env.VIREO_AGENT_NFS_MODE = 'userspace';
    platform = await startPlatform({
      prefix: 'vireo-nfs-xfer-',
      hostName: 'nfs-xfer-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    client = new VireoClient({ baseUrl: platform.engine.url, ca: platform.engine.caPem });
    await client.login('admin@internal', platform.engine.adminPassword as string);
    work = join(platform.dir, 'xfer-work');
    fs.mkdirSync(work);
    nfsData = await nfsDomain('nfsx-data', 'data');
    nfsIso = await nfsDomain('nfsx-iso', 'iso');
    Object.assign(local, await platform.addLocalDataDomain('nfsx-local'));
  }, 240_000);

  afterAll(async () => {
    await killQemusOf([...vmIds]);
    await platform?.stop();
    await server?.stop();
    if (savedMode === undefined) delete process.env.VIREO_AGENT_NFS_MODE;
    else process.env.VIREO_AGENT_NFS_MODE = savedMode;
  });

  it('uploads a raw and a qcow2 disk and an ISO; downloads the raw disk identical; refuses a hostile qcow2 leaving nothing', async () => {
    const staging = (domainId: string) => join(platform.dir, 'transfers', domainId, 'staging');

    // Raw: uploaded, then downloaded back byte for byte.
    const raw = join(work, 'disk.raw');
    fs.writeFileSync(raw, Buffer.concat([randomBytes(MiB), Buffer.alloc(2 * MiB), randomBytes(MiB)]));
    const { transfer: rt } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: nfsData,
      format: 'raw',
      size_bytes: 4 * MiB,
      disk_name: 'nfsx-raw',
      sha256: sha(raw),
    });
    const rawDone = await uploadImage(client, { file: raw, resumeId: rt.id, chunkBytes: MiB });
    expect(rawDone).toMatchObject({ state: 'finished', sha256: sha(raw) });
    const rawDisk = rawDone.disk_id as string;
    expect(fs.readdirSync(join(server.dir, nfsData, 'images', rawDisk))).toHaveLength(1);
    const back = join(work, 'disk.raw.back');
    expect((await downloadImage(client, { diskId: rawDisk, file: back })).state).toBe('finished');
    expect(sha(back)).toBe(sha(raw));

    // qcow2: placed by qemu-img convert through the nfs driver; the guest data is the same.
    const qcow2 = join(work, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '16M']);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', qcow2], { stdio: 'ignore' });
    const { transfer: qt } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: nfsData,
      format: 'qcow2',
      size_bytes: fs.statSync(qcow2).size,
      disk_name: 'nfsx-qcow2',
      sha256: sha(qcow2),
    });
    const qDone = await uploadImage(client, { file: qcow2, resumeId: qt.id });
    expect(qDone.state).toBe('finished');
    const qDir = join(server.dir, nfsData, 'images', qDone.disk_id as string);
    const placed = join(qDir, fs.readdirSync(qDir)[0] as string);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'qcow2', qcow2, placed]);
    expect((await call('GET', `/disks/${qDone.disk_id}`)).json).toMatchObject({
      size_bytes: 16 * MiB,
      state: 'ok',
    });

    // An ISO onto the nfs ISO domain: streamed through the agent's NFS client, listed by the domain.
    const isoTree = join(work, 'iso-tree');
    fs.mkdirSync(isoTree);
    fs.writeFileSync(join(isoTree, 'hello.txt'), 'vireo over nfs\n');
    const iso = join(work, 'small.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, isoTree], { stdio: 'ignore' });
    const { transfer: it } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: nfsIso,
      format: 'iso',
      iso_file: 'small.iso',
      size_bytes: fs.statSync(iso).size,
      sha256: sha(iso),
    });
    expect((await uploadImage(client, { file: iso, resumeId: it.id })).state).toBe('finished');
    expect(sha(join(server.dir, nfsIso, 'images', 'iso', 'small.iso'))).toBe(sha(iso));
    const isos = (await call('GET', `/storage-domains/${nfsIso}/isos`)).json;
    expect(isos.files.map((f: Json) => f.name)).toContain('small.iso');

    // A qcow2 whose backing file is /etc/shadow: refused with a code at the gate; nothing new on the
    // domain, nothing left in the agent's staging directory.
    const evil = join(work, 'evil.qcow2');
    execFileSync('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-u',
      '-b',
      '/etc/shadow',
      '-F',
      'raw',
      evil,
      '1M',
    ]);
    const before = tree(join(server.dir, nfsData, 'images'));
    const { transfer: et } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: nfsData,
      format: 'qcow2',
      size_bytes: fs.statSync(evil).size,
      disk_name: 'nfsx-evil',
      sha256: sha(evil),
    });
    const refused = await uploadImage(client, { file: evil, resumeId: et.id }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toMatch(/^image_/);
    await until(
      'the refused disk gone',
      async () => tree(join(server.dir, nfsData, 'images')).length === before.length,
    );
    expect(tree(join(server.dir, nfsData, 'images'))).toEqual(before);
    expect(tree(staging(nfsData))).toEqual([]);
    expect(tree(staging(nfsIso))).toEqual([]);
  }, 180_000);

  it('moves an encrypted disk local → nfs and copies it nfs → local; both boot with the data, never in plaintext', async () => {
    const made = await platform.api.settled(
      await call('POST', '/disks', {
        name: 'nfsx-enc',
        storage_domain_id: local.id,
        size_bytes: 64 * MiB,
        encrypted: true,
      }),
    );
    const diskId = (made.result as Json).disk_id as string;
    const vm = await createGuestVm(platform, {
      name: 'nfsx-vm',
      storageDomainId: local.id,
      extra: { disks: [] },
    });
    vmIds.add(vm.id);
    const plug = await call('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: diskId });
    expect(plug.status, JSON.stringify(plug.json)).toBe(201);
    await bootGuestVm(platform, vm.id);
    await writeDiskStamp(platform, vm.id, STAMP);
    await stopGuestVm(platform, vm.id);

    // Move onto the nfs domain: made by qemu-img create with the disk's key, filled by convert -n.
    const moved = await platform.api.settled(
      await call('POST', `/disks/${diskId}/move`, { storage_domain_id: nfsData }),
      240,
    );
    expect(moved.result).toMatchObject({ storage_domain_id: nfsData });
    expect((await call('GET', `/disks/${diskId}`)).json).toMatchObject({
      storage_domain_id: nfsData,
      encrypted: true,
      state: 'ok',
    });
    const onNfs = join(server.dir, nfsData, 'images', diskId);
    for (const f of fs.readdirSync(onNfs)) {
      const file = join(onNfs, f);
      const info = JSON.parse(
        execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' }),
      );
      expect(info.encrypted).toBe(true);
      expect(fs.readFileSync(file).includes(STAMP)).toBe(false);
    }

    // Copy back to the local domain under a new key; a second VM boots with the copy and reads it.
    const copied = await call('POST', `/disks/${diskId}/copy`, {
      storage_domain_id: local.id,
      name: 'nfsx-copy',
    });
    expect(copied.status, JSON.stringify(copied.json)).toBe(202);
    await platform.api.settled(copied, 240);
    const copyId = copied.json.disk.id as string;
    expect((await call('GET', `/disks/${copyId}`)).json).toMatchObject({ encrypted: true, state: 'ok' });
    const reader = await createGuestVm(platform, {
      name: 'nfsx-reader',
      storageDomainId: local.id,
      extra: { disks: [] },
    });
    vmIds.add(reader.id);
    expect((await call('POST', `/vms/${reader.id}/disk-attachments`, { disk_id: copyId })).status).toBe(201);
    await bootGuestVm(platform, reader.id);
    expect(await readDiskStamp(platform, reader.id, STAMP.length)).toBe(STAMP);
    await stopGuestVm(platform, reader.id);

    // The moved disk itself, opened from the nfs domain by QEMU's nfs driver with its key.
    await bootGuestVm(platform, vm.id);
    expect(await readDiskStamp(platform, vm.id, STAMP.length)).toBe(STAMP);
    await stopGuestVm(platform, vm.id);
  }, 600_000);
});
