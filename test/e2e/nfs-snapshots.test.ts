import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf, waitForText } from '../../packages/agent/test/support/guest';
import { dataDirLayout } from '../../packages/engine/src/config';
import { EmbeddedPostgres } from '../../packages/engine/src/db/embedded-postgres';
import { unwrapDiskKey } from '../../packages/engine/src/secrets/disk-keys';
import { loadOrCreateMasterKey } from '../../packages/engine/src/secrets/master-key';
import { EMBEDDED_DATABASE } from '../../packages/engine/src/setup/database';
import { bootGuestVm, createGuestVm, guestSerial, readDiskStamp, stopGuestVm } from '../support/guest-vms';
import { startNfsServer, type TestNfsServer } from '../support/nfs-server';
import { type ApiAnswer, type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const run = promisify(execFile);
const MiB = 1024 ** 2;
const MARKER = 'VIREO-E2E-NFS-SNAP-31415';
/** The guest checksums this much of its disk before and after the merge. */
const SPAN_MIB = 8;

/**
 * Snapshots and thin clones on an nfs data domain in userspace mode (ADR 027: no kernel NFS client;
 * QEMU and qemu-img reach the volumes with their nfs driver, the agent with its NFSv3 client). A
 * running test guest on an encrypted nfs disk writes while a live snapshot is taken (the overlay is
 * made on the export, opened as its own nfs node and linked with blockdev-snapshot); the snapshot is
 * deleted (live block-commit, the merge marker kept on the export); the merged volume checks clean
 * through its nfs URL with the key and the guest reads back its checksum. A thin clone of a
 * template whose disk is on the nfs domain boots on the overlay and reads the template's bytes. A
 * snapshot of the stopped VM starts as a two-layer chain on the export and merges live.
 */
describe('snapshots and thin clones on a userspace-mode nfs domain (engine + agent + QEMU + ganesha)', () => {
  let server: TestNfsServer;
  let platform: Platform | undefined;
  let dataId = '';
  const vmIds: string[] = [];
  let keysDir = '';
  const savedMode = process.env.VIREO_AGENT_NFS_MODE;
  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) =>
    (platform as Platform).api.call(method, p, body, headers);
  const settled = (res: ApiAnswer, waitS = 180) => (platform as Platform).api.settled(res, waitS);
  const diskDir = (diskId: string) => join(server.dir, dataId, 'images', diskId);
  const volumes = (diskId: string) =>
    fs.existsSync(diskDir(diskId))
      ? fs
          .readdirSync(diskDir(diskId))
          .filter((f) => !f.includes('.'))
          .sort()
      : [];

  /** The disk's key as the engine keeps it (wrapped in its database), in a 0600 test file. */
  async function keyFileOf(diskId: string): Promise<string> {
    const layout = dataDirLayout((platform as Platform).engine.dataDir);
    const db = new EmbeddedPostgres({
      clusterDir: layout.postgresDir,
      passwordFile: layout.postgresPassword,
      logFile: layout.postgresLog,
    });
    const client = new pg.Client({
      host: db.socketDir,
      port: 5432,
      user: 'vireo',
      password: fs.readFileSync(layout.postgresPassword, 'utf8').trim(),
      database: EMBEDDED_DATABASE,
    });
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT ciphertext, iv, tag, master_key_id FROM disk_keys WHERE disk_id = $1',
        [diskId],
      );
      const row = rows[0];
      if (!row) throw new Error(`disk ${diskId} has no key`);
      const key = unwrapDiskKey(loadOrCreateMasterKey(layout.secretsDir), diskId, {
        ciphertext: row.ciphertext,
        iv: row.iv,
        tag: row.tag,
        masterKeyId: row.master_key_id,
      }).toString('base64');
      const file = join(keysDir, diskId);
      fs.writeFileSync(file, key, { mode: 0o600 });
      return file;
    } finally {
      await client.end();
    }
  }

  /** qemu-img/qemu-io `--image-opts` of one qcow2 volume through the nfs driver. */
  const nfsOpts = (diskId: string, volumeId: string) =>
    [
      'driver=qcow2',
      'file.driver=nfs',
      'file.server.type=inet',
      `file.server.host=${server.address}`,
      `file.path=${server.exportPath}/${dataId}/images/${diskId}/${volumeId}`,
    ].join(',');

  beforeAll(async () => {
    assertTestGuestBuilt();
    server = await startNfsServer('nfssnap');
    process.env.VIREO_AGENT_NFS_MODE = 'userspace';
    platform = await startPlatform({
      prefix: 'vireo-nfssnap-',
      hostName: 'nfssnap-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    keysDir = join(platform.dir, 'test-keys');
    fs.mkdirSync(keysDir, { mode: 0o700 });
    const created = await call('POST', '/storage-domains', {
      name: 'nfssnap-data',
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
    if (vmIds.length) await killQemusOf(vmIds);
    await platform?.stop();
    await server?.stop();
    if (savedMode === undefined) delete process.env.VIREO_AGENT_NFS_MODE;
    else process.env.VIREO_AGENT_NFS_MODE = savedMode;
  });

  it('live snapshot of an encrypted nfs disk while the guest writes, live merge, the volume checks clean over nfs', async () => {
    const vm = await createGuestVm(platform as Platform, { name: 'nfssnap-vm', storageDomainId: dataId });
    const vmId = vm.id as string;
    vmIds.push(vmId);
    const diskId = vm.disks[0].id as string;
    await bootGuestVm(platform as Platform, vmId);
    const [base] = volumes(diskId);
    expect(base).toBeDefined();
    const shell = (command: string, ms = 60_000) =>
      guestShell(guestSerial(platform as Platform, vmId).socket, command, ms);

    await shell(`yes ${MARKER} | head -c ${4 * MiB} | dd of=/dev/vda bs=65536 conv=fsync 2>/dev/null`);
    // A writer in the background: the snapshot lands in the middle of it.
    await shell(
      `{ (i=0; while [ $i -lt 64 ]; do yes ${MARKER} | head -c 65536 | dd of=/dev/vda bs=65536 seek=$((64+i)) conv=fsync 2>/dev/null; i=$((i+1)); done; echo NFSWRITER-""DONE) & }`,
    );
    const taken = await call('POST', `/vms/${vmId}/snapshots`, { description: 'live on nfs' });
    const sid = taken.json.snapshot?.id as string;
    expect(sid, JSON.stringify(taken.json)).toBeDefined();
    expect((await settled(taken)).result).toMatchObject({ live: true });
    const chain = volumes(diskId);
    expect(chain).toHaveLength(2);
    const overlay = chain.find((v) => v !== base) as string;
    // The overlay was made on the export: encrypted (crypt method 2), backing named by sibling name.
    const head = fs.readFileSync(join(diskDir(diskId), overlay)).subarray(0, 4096);
    expect(head.readUInt32BE(32)).toBe(2);
    expect(head.includes(Buffer.from(base as string))).toBe(true);
    await waitForText(guestSerial(platform as Platform, vmId).log, 'NFSWRITER-DONE', 120_000);
    const sum = async () => {
      const out = await shell(`sync; dd if=/dev/vda bs=1048576 count=${SPAN_MIB} 2>/dev/null | md5sum`);
      const found = /([0-9a-f]{32})/.exec(out)?.[1];
      if (!found) throw new Error(`no checksum in guest output: ${out}`);
      return found;
    };
    const written = await sum();

    const merged = await settled(await call('DELETE', `/vms/${vmId}/snapshots/${sid}`));
    expect(merged.result).toMatchObject({ deleted: true, live: true });
    expect(volumes(diskId)).toEqual([base]);
    // No merge marker left on the export.
    expect(fs.readdirSync(diskDir(diskId))).toEqual([base]);
    expect(await sum()).toBe(written);

    const keyFile = await keyFileOf(diskId);
    // Exit status 0: no corruption, no leaks; the key opens the volume through the nfs driver.
    await run('qemu-img', [
      'check',
      '-U',
      '-q',
      '--object',
      `secret,id=k,format=raw,file=${keyFile}`,
      '--image-opts',
      `${nfsOpts(diskId, base as string)},encrypt.key-secret=k`,
    ]);
    expect(fs.readFileSync(join(diskDir(diskId), base as string)).includes(MARKER)).toBe(false);

    // Memory snapshots on such a domain: test/e2e/nfs-memory-snapshot.test.ts.
    await stopGuestVm(platform as Platform, vmId);

    // A snapshot of the stopped VM (an overlay made by volume.create), a start on that two-layer
    // encrypted chain (each layer its own nfs node), then a live merge of it.
    const cold = await call('POST', `/vms/${vmId}/snapshots`, { description: 'cold on nfs' });
    const coldId = cold.json.snapshot?.id as string;
    expect(coldId, JSON.stringify(cold.json)).toBeDefined();
    expect((await settled(cold)).result).toMatchObject({ live: false });
    expect(volumes(diskId)).toHaveLength(2);
    await bootGuestVm(platform as Platform, vmId);
    expect(await sum()).toBe(written);
    const mergedLive = await settled(await call('DELETE', `/vms/${vmId}/snapshots/${coldId}`));
    expect(mergedLive.result).toMatchObject({ deleted: true, live: true });
    expect(fs.readdirSync(diskDir(diskId))).toEqual([base]);
    expect(await sum()).toBe(written);
    await stopGuestVm(platform as Platform, vmId);
  }, 600_000);

  it('a thin clone of a template whose disk is on the nfs domain boots on its overlay', async () => {
    // The template's source is never booted: its bytes are written through the nfs driver.
    const source = await createGuestVm(platform as Platform, {
      name: 'nfssnap-tpl-src',
      storageDomainId: dataId,
      encrypted: false,
    });
    const srcDisk = source.disks[0].id as string;
    const made = await call('POST', '/templates', { vm_id: source.id, name: 'nfssnap-tpl' });
    expect(made.status, JSON.stringify(made.json)).toBeLessThan(300);
    await settled(made, 240);
    const template = (await call('GET', `/templates/${made.json.template.id}`)).json;
    const baseRef = template.disks[0] as Json;
    expect(baseRef.disk_id).not.toBe(srcDisk);
    const [baseVol] = volumes(baseRef.disk_id);
    await run('qemu-io', [
      '--image-opts',
      nfsOpts(baseRef.disk_id, baseVol as string),
      '-c',
      'write -P 0x54 0 4096',
    ]);

    const res = await call('POST', `/templates/${template.id}/vms`, { name: 'nfssnap-thin', clone: 'thin' });
    expect(res.status, JSON.stringify(res.json)).toBeLessThan(300);
    await settled(res);
    const cloneId = res.json.vm.id as string;
    vmIds.push(cloneId);
    const cloneDisk = (await call('GET', `/vms/${cloneId}`)).json.disks[0].id as string;
    const [cloneVol] = volumes(cloneDisk);
    // A qcow2 overlay on the export whose backing is the template volume, named relatively.
    const head = fs.readFileSync(join(diskDir(cloneDisk), cloneVol as string)).subarray(0, 4096);
    expect(head.includes(Buffer.from(`../${baseRef.disk_id}/${baseVol}`))).toBe(true);
    const cd = await call(
      'PATCH',
      `/vms/${cloneId}`,
      { cdrom: { image: 'test-guest.iso' } },
      { 'if-match': '*' },
    );
    expect(cd.status, JSON.stringify(cd.json)).toBe(200);
    await bootGuestVm(platform as Platform, cloneId);
    // The template's bytes, read through the clone's overlay: 'T' is 0x54.
    expect(await readDiskStamp(platform as Platform, cloneId, 8)).toBe('TTTTTTTT');
    await stopGuestVm(platform as Platform, cloneId);
  }, 600_000);
});
