import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StorageDomainRef, VmSpec } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import type { StorageDomains } from '../src/storage/domains/service';
import { UserspaceCopies } from '../src/storage/nfs/copy';
import { UserspaceNfsImages } from '../src/storage/nfs/images';
import { UserspaceVolumes } from '../src/storage/nfs/volumes';
import { nfsDomainRef, userspaceNfsDomains } from './support/nfs-domains';

/**
 * nfs domains in userspace mode (ADR 027) against a real NFSv3 server (nfs-ganesha in a test
 * network namespace): the agent's NFSv3 client does the domain's files, qemu-img its images.
 */

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const ENGINE = randomUUID();
let server: TestNfsServer;
let stateDir: string;
let domains: StorageDomains;
let volumes: UserspaceVolumes;

function ref(kind: 'data' | 'iso', over: Partial<StorageDomainRef> = {}): StorageDomainRef {
  return nfsDomainRef(server, kind, over);
}

beforeAll(async () => {
  server = await startNfsServer('nfsag');
  stateDir = await mkdtemp(join(tmpdir(), 'vireo-nfs-agent-'));
  domains = userspaceNfsDomains(stateDir, log);
  volumes = new UserspaceVolumes({
    domain: (id) => domains.userspaceDomain(id),
    unavailable: (id, feature) => domains.featureUnavailable(id, feature),
    log,
    secretsDir: join(stateDir, 'secrets'),
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('a userspace-mode nfs data domain', () => {
  it('activates with metadata on the export, capacity, volumes, coded refusals, release and probe', async () => {
    const d = ref('data');
    const res = await domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    expect(res.root).toBe(`${d.path}/${d.id}`);
    expect(res.total_bytes).toBeGreaterThan(0);
    expect(res.free_bytes).toBeGreaterThan(0);
    expect(res.free_bytes).toBeLessThanOrEqual(res.total_bytes);
    // The metadata went to the server, not to a local directory.
    const onServer = JSON.parse(await readFile(join(server.dir, d.id, 'dom_md', 'metadata.json'), 'utf8'));
    expect(onServer).toMatchObject({ id: d.id, kind: 'data', owner_engine_id: ENGINE, format_version: 1 });
    expect((await stat(join(server.dir, d.id, 'images'))).isDirectory()).toBe(true);
    await expect(stat(d.path)).rejects.toMatchObject({ code: 'ENOENT' });
    // Idempotent, and the capacity call agrees.
    await domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    expect((await domains.capacity(d.id)).total_bytes).toBe(res.total_bytes);

    // A volume: qemu-img through the nfs driver, directories through the NFS client.
    const disk = randomUUID();
    const vol = randomUUID();
    const u = domains.userspaceDomain(d.id);
    if (!u) throw new Error('domain not in userspace mode');
    const info = await volumes.create(u, {
      domain_id: d.id,
      disk_id: disk,
      volume_id: vol,
      format: 'qcow2',
      size_bytes: 1 << 30,
    });
    expect(info).toMatchObject({
      path: `${res.root}/images/${disk}/${vol}`,
      virtual_size: 1 << 30,
      backing: null,
    });
    const file = join(server.dir, d.id, 'images', disk, vol);
    expect((await readFile(file)).subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
    await expect(
      volumes.create(u, {
        domain_id: d.id,
        disk_id: disk,
        volume_id: vol,
        format: 'qcow2',
        size_bytes: 1 << 20,
      }),
    ).rejects.toMatchObject({ code: 'image_exists' });
    expect(
      (await volumes.info(u, { domain_id: d.id, disk_id: disk, volume_id: vol, format: 'qcow2' }))
        .virtual_size,
    ).toBe(1 << 30);
    // An overlay on a backing volume that is not there answers a coded error and leaves nothing behind.
    const overlay = randomUUID();
    await expect(
      volumes.create(u, {
        domain_id: d.id,
        disk_id: disk,
        volume_id: overlay,
        format: 'qcow2',
        backing: { disk_id: disk, volume_id: randomUUID(), format: 'qcow2' },
      }),
    ).rejects.toMatchObject({ code: 'image_not_found' });
    await expect(stat(join(server.dir, d.id, 'images', disk, overlay))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(domains.rootOf(d.id)).rejects.toMatchObject({ code: 'storage_feature_unavailable' });

    // An encrypted volume: LUKS inside qcow2, the key only in a 0600 file that is gone afterwards.
    const encDisk = randomUUID();
    const encVol = randomUUID();
    await volumes.create(u, {
      domain_id: d.id,
      disk_id: encDisk,
      volume_id: encVol,
      format: 'qcow2',
      size_bytes: 1 << 26,
      encryption: { secret: Buffer.alloc(32, 7).toString('base64') },
    });
    const encHead = await readFile(join(server.dir, d.id, 'images', encDisk, encVol));
    expect(encHead.readUInt32BE(32)).toBe(2);
    expect(await readdir(join(stateDir, 'secrets')).catch(() => [])).toEqual([]);
    expect(await volumes.delete(u, { domain_id: d.id, disk_id: encDisk })).toEqual({ deleted: true });

    // A raw volume, then deletes: one volume (the disk directory stays while another is in it), the rest.
    const rawVol = randomUUID();
    await volumes.create(u, {
      domain_id: d.id,
      disk_id: disk,
      volume_id: rawVol,
      format: 'raw',
      size_bytes: 1 << 20,
    });
    expect((await stat(join(server.dir, d.id, 'images', disk, rawVol))).size).toBe(1 << 20);
    expect(await volumes.delete(u, { domain_id: d.id, disk_id: disk, volume_id: rawVol })).toEqual({
      deleted: true,
    });
    expect((await stat(join(server.dir, d.id, 'images', disk))).isDirectory()).toBe(true);
    // A symlink planted in the disk directory is removed, never followed.
    const outside = join(server.dir, 'outside.txt');
    await writeFile(outside, 'keep me');
    await symlink(outside, join(server.dir, d.id, 'images', disk, 'planted'));
    expect(await volumes.delete(u, { domain_id: d.id, disk_id: disk })).toEqual({ deleted: true });
    await expect(stat(join(server.dir, d.id, 'images', disk))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(outside, 'utf8')).toBe('keep me');
    expect(await volumes.delete(u, { domain_id: d.id, disk_id: disk })).toEqual({ deleted: false });

    // Detach: the owner is cleared on the export; a probe finds the domain for an import.
    expect(await domains.deactivate(d.id, true)).toEqual({ id: d.id, was_active: true });
    expect(domains.userspaceDomain(d.id)).toBeUndefined();
    const found = await domains.probe({
      backend: 'nfs',
      path: `/run/vireo-agent/storage/probe-${randomUUID()}`,
      nfs_server: server.address,
      nfs_export: server.exportPath,
    });
    expect(found.find((m) => m.id === d.id)).toMatchObject({ kind: 'data', owner_engine_id: null });
  });

  it('refuses a domain another engine owns', async () => {
    const d = ref('data');
    await mkdir(join(server.dir, d.id, 'dom_md'), { recursive: true });
    const at = new Date().toISOString();
    await writeFile(
      join(server.dir, d.id, 'dom_md', 'metadata.json'),
      JSON.stringify({
        id: d.id,
        name: d.name,
        kind: 'data',
        format_version: 1,
        owner_engine_id: randomUUID(),
        created_at: at,
        updated_at: at,
      }),
    );
    await expect(
      domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true }),
    ).rejects.toMatchObject({
      code: 'storage_domain_foreign',
    });
    expect(domains.userspaceDomain(d.id)).toBeUndefined();
  });

  it('extends volumes offline through the nfs driver: plain, raw and encrypted; never shrinks', async () => {
    const d = ref('data');
    await domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const u = domains.userspaceDomain(d.id);
    if (!u) throw new Error('domain not in userspace mode');
    const disk = randomUUID();
    const vol = randomUUID();
    const at = { domain_id: d.id, disk_id: disk, volume_id: vol, format: 'qcow2' as const };
    await volumes.create(u, { ...at, size_bytes: 1 << 20 });
    // The guest's data must survive the resize: stamp it on the server, read it back after.
    const file = join(server.dir, d.id, 'images', disk, vol);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 64k', file]);
    const grown = await volumes.resize(u, { ...at, size_bytes: 3 << 20 });
    expect(grown).toMatchObject({ virtual_size: 3 << 20, path: `${u.root}/images/${disk}/${vol}` });
    expect((await volumes.info(u, at)).virtual_size).toBe(3 << 20);
    const read = await run('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x5a 0 64k', file]);
    expect(read.stdout).not.toMatch(/Pattern verification failed/);
    expect(read.stdout).toMatch(/read 65536\/65536 bytes/);
    // Same size: nothing to do; smaller: refused, size unchanged.
    expect((await volumes.resize(u, { ...at, size_bytes: 3 << 20 })).virtual_size).toBe(3 << 20);
    await expect(volumes.resize(u, { ...at, size_bytes: 1 << 20 })).rejects.toMatchObject({
      code: 'invalid_params',
    });
    expect((await volumes.info(u, at)).virtual_size).toBe(3 << 20);
    // A missing volume answers image_not_found.
    await expect(
      volumes.resize(u, { ...at, volume_id: randomUUID(), size_bytes: 4 << 20 }),
    ).rejects.toMatchObject({ code: 'image_not_found' });

    // Raw: the file itself grows.
    const rawVol = randomUUID();
    const raw = { ...at, volume_id: rawVol, format: 'raw' as const };
    await volumes.create(u, { ...raw, size_bytes: 1 << 20 });
    await volumes.resize(u, { ...raw, size_bytes: 2 << 20 });
    expect((await stat(join(server.dir, d.id, 'images', disk, rawVol))).size).toBe(2 << 20);

    // Encrypted: qemu-img opens the LUKS header with the key (a 0600 file, gone afterwards);
    // the wrong key fails with a coded error and leaves the size alone.
    const encVol = randomUUID();
    const enc = { ...at, volume_id: encVol };
    const key = { secret: Buffer.alloc(32, 9).toString('base64') };
    await volumes.create(u, { ...enc, size_bytes: 1 << 20, encryption: key });
    await expect(
      volumes.resize(u, {
        ...enc,
        size_bytes: 2 << 20,
        encryption: { secret: Buffer.alloc(32, 1).toString('base64') },
      }),
    ).rejects.toMatchObject({ code: 'encryption_key_invalid' });
    expect((await volumes.info(u, enc)).virtual_size).toBe(1 << 20);
    expect((await volumes.resize(u, { ...enc, size_bytes: 2 << 20, encryption: key })).virtual_size).toBe(
      2 << 20,
    );
    expect(await readdir(join(stateDir, 'secrets')).catch(() => [])).toEqual([]);

    expect(await volumes.delete(u, { domain_id: d.id, disk_id: disk })).toEqual({ deleted: true });
    await domains.deactivate(d.id, true);
  });
});

describe('copies between a userspace-mode nfs domain and a local one', () => {
  it('decrypts nfs → local, copies local → nfs plain and encrypted, refuses a wrong key and a planted backing file', async () => {
    const d = ref('data');
    await domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const u = domains.userspaceDomain(d.id);
    if (!u) throw new Error('domain not in userspace mode');
    const localId = randomUUID();
    const localRoot = join(stateDir, 'local', localId);
    await mkdir(join(localRoot, 'images'), { recursive: true });
    const events: Array<{ job_id: string; state: string; error?: { code: string } }> = [];
    const copies = new UserspaceCopies({
      domain: (id) => domains.userspaceDomain(id),
      unavailable: (id, feature) => domains.featureUnavailable(id, feature),
      resolveRoot: async (id) => {
        if (id !== localId) throw new Error(`unknown domain ${id}`);
        return localRoot;
      },
      emit: ((name: string, params: never) => {
        if (name === 'job.progress') events.push(params);
      }) as never,
      log,
      secretsDir: join(stateDir, 'secrets'),
    });
    const keyA = Buffer.alloc(32, 3).toString('base64');
    const keyB = Buffer.alloc(32, 4).toString('base64');
    const keyFile = join(stateDir, 'test-key');
    // qemu-io reads the key from a 0600 file (never argv), as the agent's own calls do.
    const qemuIo = async (file: string, key: string | undefined, cmd: string) => {
      if (!key) return run('qemu-io', ['-f', 'qcow2', '-c', cmd, file]);
      await writeFile(keyFile, key, { mode: 0o600 });
      return run('qemu-io', [
        '--object',
        `secret,id=k,format=raw,file=${keyFile}`,
        '--image-opts',
        `driver=qcow2,file.filename=${file},encrypt.key-secret=k`,
        '-c',
        cmd,
      ]);
    };
    const srcDisk = randomUUID();
    const src = { domain_id: d.id, disk_id: srcDisk, volume_id: randomUUID(), format: 'qcow2' as const };
    await volumes.create(u, { ...src, size_bytes: 4 << 20, encryption: { secret: keyA } });
    const srcFile = join(server.dir, d.id, 'images', srcDisk, src.volume_id);
    await qemuIo(srcFile, keyA, 'write -P 0x6b 0 64k');

    // nfs (encrypted) → local (plain): the source opened through the nfs driver with its key.
    const local = {
      domain_id: localId,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    const job1 = randomUUID();
    const out = await copies.copy({
      job_id: job1,
      from: src,
      to: local,
      source_encryption: { secret: keyA },
    });
    expect(out).toMatchObject({ virtual_size: 4 << 20, backing: null });
    const localFile = join(localRoot, 'images', local.disk_id, local.volume_id);
    expect((await qemuIo(localFile, undefined, 'read -P 0x6b 0 64k')).stdout).toMatch(/read 65536\/65536/);
    expect(events.filter((e) => e.job_id === job1).at(-1)?.state).toBe('succeeded');

    // local → nfs plain: the data arrives through the nfs driver.
    const back = {
      domain_id: d.id,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    await copies.copy({ job_id: randomUUID(), from: local, to: back });
    const backFile = join(server.dir, d.id, 'images', back.disk_id, back.volume_id);
    expect((await qemuIo(backFile, undefined, 'read -P 0x6b 0 64k')).stdout).toMatch(/read 65536\/65536/);
    // An encrypted target on the nfs domain: made by qemu-img create, filled by convert -n (ADR 027).
    const encBack = { ...back, disk_id: randomUUID() };
    await copies.copy({
      job_id: randomUUID(),
      from: local,
      to: encBack,
      target_encryption: { secret: keyB },
    });
    const encFile = join(server.dir, d.id, 'images', encBack.disk_id, encBack.volume_id);
    expect((await qemuIo(encFile, keyB, 'read -P 0x6b 0 64k')).stdout).toMatch(/read 65536\/65536/);

    // A wrong key for the encrypted nfs source: encryption_key_invalid, a failed progress event,
    // no partial target left.
    const job3 = randomUUID();
    const bad = {
      domain_id: localId,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    await expect(
      copies.copy({ job_id: job3, from: src, to: bad, source_encryption: { secret: keyB } }),
    ).rejects.toMatchObject({ code: 'encryption_key_invalid' });
    expect(events.filter((e) => e.job_id === job3).at(-1)).toMatchObject({
      state: 'failed',
      error: { code: 'encryption_key_invalid' },
    });
    await expect(stat(join(localRoot, 'images', bad.disk_id))).rejects.toMatchObject({ code: 'ENOENT' });

    // A qcow2 planted on the export with a backing file naming a host file is never read.
    const planted = {
      domain_id: d.id,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    await mkdir(join(server.dir, d.id, 'images', planted.disk_id));
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'raw',
      '-b',
      keyFile,
      join(server.dir, d.id, 'images', planted.disk_id, planted.volume_id),
    ]);
    await expect(
      copies.copy({ job_id: randomUUID(), from: planted, to: { ...local, disk_id: randomUUID() } }),
    ).rejects.toMatchObject({ code: 'image_invalid' });
    expect(await readdir(join(stateDir, 'secrets')).catch(() => [])).toEqual([]);
    expect(copies.cancel(randomUUID())).toEqual({ cancelled: false });
    await domains.deactivate(d.id, true);
  });
});

describe('images of a userspace-mode nfs domain (the image policy side)', () => {
  it('checks disks over NFS like local files and maps them for the nfs driver', async () => {
    const d = ref('data');
    const res = await domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const images = new UserspaceNfsImages(domains);
    const disk = randomUUID();
    const dir = join(server.dir, d.id, 'images', disk);
    await mkdir(dir, { recursive: true });
    const at = (vol: string) => `${res.root}/images/${disk}/${vol}`;
    const [good, backed, wrong, link, missing] = [1, 2, 3, 4, 5].map(() => randomUUID()) as string[];
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, good as string), '16M']);
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'qcow2',
      '-b',
      join(dir, good as string),
      join(dir, backed as string),
    ]);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, wrong as string), '16M']);
    await symlink(join(dir, good as string), join(dir, link as string));

    expect(images.owns(at(good as string))).toBe(true);
    expect(images.owns(`/var/lib/elsewhere/${good}`)).toBe(false);
    expect(await images.checkChain(at(good as string), 'qcow2', '/disks/0/path')).toEqual([
      { path: at(good as string), format: 'qcow2', cryptMethod: 0 },
    ]);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      );
    // An absolute backing name would be a file of this host: refused (nfs-chains.test.ts has more).
    expect(await code(images.checkChain(at(backed as string), 'qcow2', '/d'))).toBe('image_invalid');
    expect(await code(images.checkChain(at(wrong as string), 'raw', '/d'))).toBe('image_invalid');
    expect(await code(images.checkChain(at(link as string), 'qcow2', '/d'))).toBe('image_invalid');
    expect(await code(images.checkChain(at(missing as string), 'qcow2', '/d'))).toBe('image_not_found');
    expect(await code(images.checkChain(`${res.root}/images/iso/x.iso`, 'raw', '/d'))).toBe(
      'path_not_allowed',
    );
    expect(
      await code(images.checkChain(`${res.root}/images/${disk}/../../dom_md/metadata.json`, 'raw', '/d')),
    ).toBe('path_not_allowed');
    expect(images.unavailable(at(good as string), '/volume_path').code).toBe('storage_feature_unavailable');
    const spec = {
      disks: [{ path: at(good as string) }, { path: '/local/disk.qcow2' }],
    } as unknown as VmSpec;
    expect(images.nfsImagesOf(spec)).toEqual({
      [at(good as string)]: {
        server: server.address,
        path: `${server.exportPath}/${d.id}/images/${disk}/${good}`,
      },
    });
    await domains.deactivate(d.id);
    expect(images.owns(at(good as string))).toBe(false);
  });
});

describe('a userspace-mode nfs ISO domain', () => {
  it('lists regular files with safe names only', async () => {
    const d = ref('iso');
    await domains.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const isoDir = join(server.dir, d.id, 'images', 'iso');
    await writeFile(join(isoDir, 'boot.iso'), Buffer.alloc(4096, 1));
    await writeFile(join(isoDir, 'a b.iso'), 'bad name');
    await symlink('/etc/passwd', join(isoDir, 'link.iso'));
    await mkdir(join(isoDir, 'dir.iso'));
    const isos = await domains.listIsos(d.id);
    expect(isos.map((f) => f.name)).toEqual(['boot.iso']);
    expect(isos[0]?.size_bytes).toBe(4096);
    await domains.deactivate(d.id);
  });
});
