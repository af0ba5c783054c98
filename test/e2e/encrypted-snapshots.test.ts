import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf, waitForText } from '../../packages/agent/test/support/guest';
import { dataDirLayout } from '../../packages/engine/src/config';
import { EmbeddedPostgres } from '../../packages/engine/src/db/embedded-postgres';
import { unwrapDiskKey } from '../../packages/engine/src/secrets/disk-keys';
import { loadOrCreateMasterKey } from '../../packages/engine/src/secrets/master-key';
import { EMBEDDED_DATABASE } from '../../packages/engine/src/setup/database';
import { bootGuestVm, createGuestVm, guestSerial, stopGuestVm } from '../support/guest-vms';
import { type ApiAnswer, type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const MiB = 1024 ** 2;
/** Plaintext the guest writes; no volume file may ever hold it. */
const MARKER = 'VIREO-E2E-ENC-SNAP-MARKER-31415';
/** The guest checksums this much of the disk; the host compares the decrypted chain. */
const SPAN_MIB = 8;

/**
 * Encrypted disks through snapshots and hot-plug, end to end: a running test guest with an
 * encrypted data disk writes a marker while the engine takes a live snapshot (the overlay is
 * encrypted with the disk's key), then the snapshot is merged live; the chain checks clean with the
 * key, the guest reads back what it wrote, no volume file holds the marker. A second encrypted disk
 * is hot-plugged into the running guest (key over QMP), written and read there, and unplugged.
 */
describe('encrypted disks: live snapshot, live merge, hot-plug (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let domain = { id: '', parent: '' };
  let vmId: string | undefined;
  let keysDir = '';
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 180) => (platform as Platform).api.settled(res, waitS);
  const diskDir = (diskId: string) => join(domain.parent, domain.id, 'images', diskId);
  const volumes = (diskId: string) =>
    fs.existsSync(diskDir(diskId))
      ? fs
          .readdirSync(diskDir(diskId))
          .filter((f) => !f.includes('.'))
          .sort()
      : [];
  const shell = (command: string, ms = 60_000) =>
    guestShell(guestSerial(platform as Platform, vmId as string).socket, command, ms);
  const guestSum = async (dev: string) => {
    const out = await shell(`sync; dd if=/dev/${dev} bs=1048576 count=${SPAN_MIB} 2>/dev/null | md5sum`);
    const sum = /([0-9a-f]{32})/.exec(out)?.[1];
    if (!sum) throw new Error(`no checksum in guest output: ${out}`);
    return sum;
  };

  /**
   * The disk's key as the engine keeps it (wrapped under the master key in its database), written
   * to a 0600 test file so the host-side qemu-img can open the chain. Test-only: the API never
   * hands keys out.
   */
  async function keyFileOf(diskId: string): Promise<string> {
    const layout = dataDirLayout((platform as Platform).engine.dataDir);
    const server = new EmbeddedPostgres({
      clusterDir: layout.postgresDir,
      passwordFile: layout.postgresPassword,
      logFile: layout.postgresLog,
    });
    const client = new pg.Client({
      host: server.socketDir,
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

  /** qemu-img arguments opening `top` and every layer below it with the disk's key. */
  const chainArgs = (top: string, keyFile: string, depth: number) => [
    '--object',
    `secret,id=k,format=raw,file=${keyFile}`,
    '--image-opts',
    [
      `driver=qcow2,file.driver=file,file.filename=${top}`,
      ...Array.from({ length: depth }, (_, i) => `${'backing.'.repeat(i)}encrypt.key-secret=k`),
    ].join(','),
  ];
  const encrypted = (path: string) =>
    JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', path], { encoding: 'utf8' }),
    ).encrypted === true;

  async function newEncryptedDisk(name: string): Promise<string> {
    const made = await settled(
      await call('POST', '/disks', {
        name,
        storage_domain_id: domain.id,
        size_bytes: 64 * MiB,
        encrypted: true,
      }),
    );
    return (made.result as Json).disk_id as string;
  }

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-encsnap-',
      hostName: 'encsnap-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    domain = await platform.addLocalDataDomain('encsnap-data');
    keysDir = join(platform.dir, 'test-keys');
    fs.mkdirSync(keysDir, { mode: 0o700 });
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('live snapshot while the guest writes the marker, live merge; the chain checks with the key', async () => {
    const diskId = await newEncryptedDisk('encsnap-data');
    const vm = await createGuestVm(platform as Platform, {
      name: 'encsnap-vm',
      storageDomainId: domain.id,
      extra: { disks: [] },
    });
    vmId = vm.id as string;
    const plug = await call('POST', `/vms/${vmId}/disk-attachments`, { disk_id: diskId });
    expect(plug.status, JSON.stringify(plug.json)).toBe(201);
    await bootGuestVm(platform as Platform, vmId);
    const [base] = volumes(diskId);

    await shell(`yes ${MARKER} | head -c ${4 * MiB} | dd of=/dev/vda bs=65536 conv=fsync 2>/dev/null`);
    // A writer in the background: the snapshot lands in the middle of it.
    await shell(
      `{ (i=0; while [ $i -lt 100 ]; do yes ${MARKER} | head -c 65536 | dd of=/dev/vda bs=65536 seek=$((64+i)) conv=fsync 2>/dev/null; i=$((i+1)); done; echo ENCWRITER-""DONE) & }`,
    );
    const taken = await call('POST', `/vms/${vmId}/snapshots`, { description: 'live, encrypted' });
    const sid = taken.json.snapshot?.id as string;
    expect(sid, JSON.stringify(taken.json)).toBeDefined();
    expect((await settled(taken)).result).toMatchObject({ live: true });
    const chain = volumes(diskId);
    expect(chain).toHaveLength(2);
    for (const v of chain) expect(encrypted(join(diskDir(diskId), v)), v).toBe(true);
    await waitForText(guestSerial(platform as Platform, vmId).log, 'ENCWRITER-DONE', 120_000);
    const written = await guestSum('vda');

    const merged = await settled(await call('DELETE', `/vms/${vmId}/snapshots/${sid}`));
    expect(merged.result).toMatchObject({ deleted: true, live: true });
    expect(volumes(diskId)).toEqual([base]);
    expect(await guestSum('vda')).toBe(written);

    const basePath = join(diskDir(diskId), base as string);
    const keyFile = await keyFileOf(diskId);
    // Exit status 0: no errors and no leaks, the key opens the volume.
    execFileSync('qemu-img', ['check', '-U', '-q', ...chainArgs(basePath, keyFile, 1)]);
    const flat = join(keysDir, 'flat.raw');
    execFileSync('qemu-img', ['convert', '-U', ...chainArgs(basePath, keyFile, 1), '-O', 'raw', flat]);
    const host = createHash('md5')
      .update(fs.readFileSync(flat).subarray(0, SPAN_MIB * MiB))
      .digest('hex');
    fs.rmSync(flat);
    expect(host).toBe(written);
    expect(fs.readFileSync(basePath).includes(MARKER)).toBe(false);
  }, 600_000);

  it('hot-plugs a second encrypted disk into the running guest, which writes and reads it, then unplugs it', async () => {
    const hotId = await newEncryptedDisk('encsnap-hot');
    const plug = await call('POST', `/vms/${vmId}/disk-attachments`, { disk_id: hotId });
    expect((await settled(plug)).result).toMatchObject({ hotplugged: true });
    await until(
      'the guest sees vdb',
      async () => (await shell('ls /sys/block')).split(/\s+/).includes('vdb'),
      30_000,
    );
    await shell(
      `yes ${MARKER}-HOT | head -c ${SPAN_MIB * MiB} | dd of=/dev/vdb bs=65536 conv=fsync 2>/dev/null`,
    );
    const expected = createHash('md5')
      .update(
        Buffer.from(`${MARKER}-HOT\n`.repeat(Math.ceil((SPAN_MIB * MiB) / (MARKER.length + 5)))).subarray(
          0,
          SPAN_MIB * MiB,
        ),
      )
      .digest('hex');
    // The guest reads back, through the key QEMU got over QMP, exactly what it wrote.
    expect(await shell('echo 3 > /proc/sys/vm/drop_caches; echo dropped')).toContain('dropped');
    expect(await guestSum('vdb')).toBe(expected);

    const unplug = await call('DELETE', `/vms/${vmId}/disk-attachments/${hotId}`);
    await settled(unplug);
    await until(
      'the guest lost vdb',
      async () => !(await shell('ls /sys/block')).split(/\s+/).includes('vdb'),
      30_000,
    );
    const [volume] = volumes(hotId);
    const path = join(diskDir(hotId), volume as string);
    expect(encrypted(path)).toBe(true);
    expect(fs.readFileSync(path).includes(MARKER)).toBe(false);
    execFileSync('qemu-img', ['check', '-U', '-q', ...chainArgs(path, await keyFileOf(hotId), 1)]);
  }, 300_000);

  it('cold snapshot, revert and cold merge of the encrypted disk (VM down)', async () => {
    const diskId = (await call('GET', `/vms/${vmId}/disk-attachments`)).json.items[0].disk_id as string;
    const before = await guestSum('vda');
    await stopGuestVm(platform as Platform, vmId as string);
    const [base] = volumes(diskId);

    const cold = await call('POST', `/vms/${vmId}/snapshots`, { description: 'cold, encrypted' });
    const cid = cold.json.snapshot?.id as string;
    expect(cid, JSON.stringify(cold.json)).toBeDefined();
    expect((await settled(cold)).result).toMatchObject({ live: false });
    for (const v of volumes(diskId)) expect(encrypted(join(diskDir(diskId), v)), v).toBe(true);

    // The next start opens a two-layer encrypted chain; the guest overwrites the marker.
    await bootGuestVm(platform as Platform, vmId as string);
    expect(await guestSum('vda')).toBe(before);
    await shell('dd if=/dev/urandom of=/dev/vda bs=1048576 count=2 conv=fsync 2>/dev/null');
    expect(await guestSum('vda')).not.toBe(before);
    await stopGuestVm(platform as Platform, vmId as string);

    // Revert: a new encrypted overlay on the snapshot's volume; the guest sees the old bytes.
    await settled(await call('POST', `/vms/${vmId}/snapshots/${cid}/revert`));
    for (const v of volumes(diskId)) expect(encrypted(join(diskDir(diskId), v)), v).toBe(true);
    await bootGuestVm(platform as Platform, vmId as string);
    expect(await guestSum('vda')).toBe(before);
    await stopGuestVm(platform as Platform, vmId as string);

    // Cold merge: qemu-img commit with the key; one volume is left, it checks clean with the key.
    const merged = await settled(await call('DELETE', `/vms/${vmId}/snapshots/${cid}`));
    expect(merged.result).toMatchObject({ deleted: true, live: false });
    expect(volumes(diskId)).toEqual([base]);
    const basePath = join(diskDir(diskId), base as string);
    execFileSync('qemu-img', ['check', '-q', ...chainArgs(basePath, await keyFileOf(diskId), 1)]);
    for (const v of volumes(diskId)) {
      expect(fs.readFileSync(join(diskDir(diskId), v)).includes(MARKER), v).toBe(false);
    }
  }, 600_000);
});
