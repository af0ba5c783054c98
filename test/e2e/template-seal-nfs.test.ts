import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginCli, runCli } from '../cli/support/cli';
import { startNfsServer, type TestNfsServer } from '../support/nfs-server';
import { type Json, type Platform, startPlatform, until } from '../support/platform';

const MACHINE_ID = '00112233445566778899aabbccddeeff';

/**
 * Template sealing on an nfs domain served in userspace mode (ADR 027, ADR 030): real engine,
 * enrolled agent (userspace mode forced), nfs-ganesha in a test network namespace and the seal
 * appliance under QEMU (TCG). An ext4 disk (made without mounting) is uploaded to a local domain
 * and moved onto the nfs domain; `template create --seal` copies it there and seals the copy, whose
 * only path to the appliance is QEMU's nfs driver.
 */
describe('template sealing on a userspace-mode nfs domain end to end', () => {
  let server: TestNfsServer | undefined;
  let platform: Platform | undefined;
  let work: string;
  let configHome: string;
  const savedMode = process.env.VIREO_AGENT_NFS_MODE;

  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const debugfsCat = (raw: string, path: string) =>
    execFileSync('debugfs', ['-R', `cat ${path}`, raw], { encoding: 'utf8', stdio: 'pipe' });

  beforeAll(async () => {
    server = await startNfsServer('nfstpl');
    // The agent inherits the environment: userspace mode whatever the kernel offers.
    process.env.VIREO_AGENT_NFS_MODE = 'userspace';
    platform = await startPlatform({ prefix: 'vireo-seal-nfs-e2e-', hostName: 'seal-nfs-host' });
    work = fs.mkdtempSync(join(platform.dir, 'work-'));
    configHome = join(work, 'cli');
    fs.mkdirSync(configHome);
    await platform.addLocalDataDomain('seal-local');
    const login = await loginCli(configHome, platform.engine);
    expect(login.code, login.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await platform?.stop();
    await server?.stop();
    if (savedMode === undefined) delete process.env.VIREO_AGENT_NFS_MODE;
    else process.env.VIREO_AGENT_NFS_MODE = savedMode;
  });

  it('seals the template copy on the export and leaves the source disk as it was', async () => {
    const nfs = server as TestNfsServer;
    const { api } = platform as Platform;
    const host = (await call('GET', `/hosts/${(platform as Platform).hostId}`)).json;
    expect(host.capabilities.storage.nfs.mode).toBe('userspace');
    expect(host.capabilities.storage.seal.available).toBe(true);

    const created = await call('POST', '/storage-domains', {
      name: 'seal-nfs',
      kind: 'data',
      backend: 'nfs',
      nfs_server: nfs.address,
      nfs_export: nfs.exportPath,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const nfsId = created.json.id as string;
    await api.settled(
      await call('POST', `/storage-domains/${nfsId}/attach`, {
        datacenter_id: (platform as Platform).cluster.datacenter_id,
      }),
    );
    await api.settled(await call('POST', `/storage-domains/${nfsId}/activate`, {}));

    // Uploaded to the local domain, then moved onto the nfs one (a local → nfs copy on the way).
    const tree = join(work, 'tree');
    fs.mkdirSync(join(tree, 'etc'), { recursive: true });
    fs.writeFileSync(join(tree, 'etc', 'hostname'), 'nfs-web-1\n');
    fs.writeFileSync(join(tree, 'etc', 'machine-id'), `${MACHINE_ID}\n`);
    const raw = join(work, 'guest.raw');
    execFileSync('truncate', ['-s', '32M', raw]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, raw]);
    const qcow2 = join(work, 'guest.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    const up = await runCli(
      ['image', 'upload', qcow2, '--storage-domain', 'seal-local', '--disk-name', 'nfs-seal-src'],
      configHome,
      { timeoutMs: 240_000 },
    );
    expect(up.code, up.stderr).toBe(0);
    const disk = await until(
      'the uploaded disk is ok',
      async () =>
        ((await call('GET', '/disks')).json.items as Json[]).find(
          (d) => d.name === 'nfs-seal-src' && d.state === 'ok',
        ),
      60_000,
    );
    await api.settled(await call('POST', `/disks/${disk.id}/move`, { storage_domain_id: nfsId }), 180);

    const vm = await call('POST', '/vms', {
      name: 'nfs-seal-vm',
      cluster_id: (platform as Platform).cluster.id,
      cpus: 1,
      memory_mib: 128,
      boot_order: ['disk'],
      // A blank first disk on the domain too (never written): copied blank, not sealed.
      disks: [{ size_gib: 1, storage_domain_id: nfsId }],
    });
    expect(vm.status, JSON.stringify(vm.json)).toBe(201);
    const attach = await call('POST', `/vms/${vm.json.id}/disk-attachments`, {
      disk_id: disk.id,
      bootable: true,
    });
    expect(attach.status, JSON.stringify(attach.json)).toBe(201);

    const op = await api.settled(
      await call('POST', '/templates', { vm_id: vm.json.id, name: 'nfs-sealed', seal: true }),
      240,
    );
    const template = ((await call('GET', '/templates')).json.items as Json[]).find(
      (t) => t.name === 'nfs-sealed',
    );
    expect(template?.state).toBe('ok');
    expect(template?.disks).toHaveLength(2);
    const tdisk = template?.disks[1] as Json;
    expect(op.result?.sealed).toEqual([{ disk_id: tdisk.disk_id, changed: ['machine-id', 'hostname'] }]);

    // Both disks are on the export (nothing under a local path); read them back without mounting.
    const readBack = (diskId: string, name: string) => {
      const dir = join(nfs.dir, nfsId, 'images', diskId);
      const [volume] = fs.readdirSync(dir);
      const out = join(work, name);
      execFileSync('qemu-img', [
        'convert',
        '-q',
        '-U',
        '-f',
        'qcow2',
        '-O',
        'raw',
        join(dir, volume as string),
        out,
      ]);
      return out;
    };
    const sealed = readBack(tdisk.disk_id, 'template.raw');
    expect(debugfsCat(sealed, '/etc/machine-id')).toBe('');
    expect(debugfsCat(sealed, '/etc/hostname')).toBe('localhost\n');
    const source = readBack(disk.id, 'source.raw');
    expect(debugfsCat(source, '/etc/machine-id')).toBe(`${MACHINE_ID}\n`);
    expect(debugfsCat(source, '/etc/hostname')).toBe('nfs-web-1\n');
  }, 480_000);
});
