import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StorageDomainRef } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import type { StorageDomains } from '../src/storage/domains/service';
import { DomainFiles } from '../src/storage/export/files';
import { OvaService } from '../src/storage/export/ova';
import { TAR_END, tarHeader, tarPadding } from '../src/storage/export/tar';
import { NfsTree } from '../src/storage/nfs/tree';
import { scanDisks } from '../src/storage/registration/scan-disks';
import { createTestDomains, type TestDomains } from './support/storage-domains';
import { nfsDomainRef, userspaceNfsDomains } from './support/nfs-domains';

/**
 * Exports, imports and registration scans on userspace-mode nfs domains (ADR 027) against a real
 * NFSv3 server (nfs-ganesha in a test network namespace): OVAs written and read through the agent's
 * NFS client, images flattened and checked in the staging directory, the same hostile-input rules.
 */

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const MiB = 1024 ** 2;
let server: TestNfsServer;
let stateDir: string;
let staging: string;
let nfsDomains: StorageDomains;
let local: TestDomains;
let ova: OvaService;
let files: DomainFiles;
const localData = randomUUID();
let exportDomain: StorageDomainRef;
let dataDomain: StorageDomainRef;

function ref(kind: 'data' | 'export'): StorageDomainRef {
  return nfsDomainRef(server, kind);
}

/** Resolves local domains; nfs ones are reached through `nfsDomain` before this is asked. */
const resolveRoot = (id: string) => (local.roots.has(id) ? local.resolveRoot(id) : nfsDomains.rootOf(id));
const nfsDomain = (id: string) => nfsDomains.userspaceDomain(id);

/** A tar with the member names given (foreign names patched in as another tool writes them). */
function tar(members: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const h = tarHeader('x', m.data.length, 0);
    h.fill(0, 0, 100);
    h.write(m.name, 0, 100, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    parts.push(h, m.data, tarPadding(m.data.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

const onServer = (d: StorageDomainRef, ...rel: string[]) => join(server.dir, d.id, ...rel);
const qemuImg = (...args: string[]) => run('qemu-img', args);

beforeAll(async () => {
  server = await startNfsServer('nfsexp');
  stateDir = await mkdtemp(join(tmpdir(), 'vireo-nfs-export-'));
  staging = join(stateDir, 'staging');
  nfsDomains = userspaceNfsDomains(stateDir, log);
  exportDomain = ref('export');
  dataDomain = ref('data');
  for (const d of [exportDomain, dataDomain])
    await nfsDomains.activate({ domain: d, engine_id: randomUUID(), create_metadata: true });
  local = await createTestDomains('vireo-nfs-export-local-', [localData]);
  ova = new OvaService(resolveRoot, local.emit, log, join(stateDir, 'secrets'), {
    nfsDomain,
    stagingDir: staging,
  });
  files = new DomainFiles(resolveRoot, nfsDomain);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await local?.remove();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('OVAs on a userspace-mode nfs export domain', () => {
  const src = { disk: randomUUID(), volume: randomUUID() };
  let srcPath: string;

  it('packs a local disk into an OVA written through the NFS client, lists and reads it', async () => {
    const dir = join(local.roots.get(localData) as string, 'images', src.disk);
    await mkdir(dir, { recursive: true });
    srcPath = join(dir, src.volume);
    await qemuImg('create', '-q', '-f', 'qcow2', srcPath, '64M');
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 3M', srcPath]);
    const res = await ova.pack({
      job_id: randomUUID(),
      domain_id: exportDomain.id,
      name: 'web1',
      ovf: '<Envelope>web1</Envelope>',
      overwrite: false,
      disks: [
        {
          from: { domain_id: localData, disk_id: src.disk, volume_id: src.volume, format: 'qcow2' },
          member: { disk_id: src.disk, volume_id: src.volume },
        },
      ],
    });
    expect(res.members.map((m) => m.name)).toEqual(['web1.ovf', `${src.disk}/${src.volume}`]);
    // On the export, named as a tar member list says; no temporary name, nothing left in staging.
    expect(await readdir(onServer(exportDomain, 'ova'))).toEqual(['web1.ova']);
    expect(await readdir(staging)).toEqual([]);
    const listed = await run('tar', ['-tf', onServer(exportDomain, 'ova', 'web1.ova')]);
    expect(listed.stdout.trim().split('\n')).toEqual(['web1.ovf', `${src.disk}/${src.volume}`]);
    expect(res.size_bytes).toBe((await readFile(onServer(exportDomain, 'ova', 'web1.ova'))).length);
    expect(await ova.list(exportDomain.id)).toEqual({ names: ['web1'], refused: [] });
    const read = await ova.read({ domain_id: exportDomain.id, name: 'web1' });
    expect(read.ovf).toBe('<Envelope>web1</Envelope>');
    // A second pack under the same name is refused unless overwriting.
    await expect(
      ova.pack({
        job_id: randomUUID(),
        domain_id: exportDomain.id,
        name: 'web1',
        ovf: '<Envelope/>',
        overwrite: false,
        disks: [],
      }),
    ).rejects.toMatchObject({ code: 'image_exists' });
  });

  it('extracts onto the nfs data domain and a local one with identical content, packs from nfs', async () => {
    const toNfs = { disk: randomUUID(), volume: randomUUID() };
    const out = await ova.extract({
      job_id: randomUUID(),
      domain_id: exportDomain.id,
      name: 'web1',
      disks: [
        {
          member: { disk_id: src.disk, volume_id: src.volume },
          to: { domain_id: dataDomain.id, disk_id: toNfs.disk, volume_id: toNfs.volume, format: 'qcow2' },
          max_virtual_size: 64 * MiB,
        },
      ],
    });
    const root = nfsDomains.userspaceDomain(dataDomain.id)?.root;
    expect(out.volumes[0]).toMatchObject({
      path: `${root}/images/${toNfs.disk}/${toNfs.volume}`,
      virtual_size: 64 * MiB,
      format: 'qcow2',
      backing: null,
    });
    const landed = onServer(dataDomain, 'images', toNfs.disk, toNfs.volume);
    await expect(qemuImg('compare', '-f', 'qcow2', '-F', 'qcow2', srcPath, landed)).resolves.toBeDefined();
    expect(await readdir(staging)).toEqual([]);

    const toLocal = { disk: randomUUID(), volume: randomUUID() };
    const back = await ova.extract({
      job_id: randomUUID(),
      domain_id: exportDomain.id,
      name: 'web1',
      disks: [
        {
          member: { disk_id: src.disk, volume_id: src.volume },
          to: { domain_id: localData, disk_id: toLocal.disk, volume_id: toLocal.volume, format: 'qcow2' },
          max_virtual_size: 64 * MiB,
        },
      ],
    });
    await expect(
      qemuImg('compare', '-f', 'qcow2', '-F', 'qcow2', srcPath, back.volumes[0]?.path as string),
    ).resolves.toBeDefined();

    // The nfs volume exported again (qemu-img reads it through the nfs driver).
    const again = await ova.pack({
      job_id: randomUUID(),
      domain_id: exportDomain.id,
      name: 'from-nfs',
      ovf: '<Envelope/>',
      overwrite: false,
      disks: [
        {
          from: { domain_id: dataDomain.id, disk_id: toNfs.disk, volume_id: toNfs.volume, format: 'qcow2' },
          member: { disk_id: toNfs.disk, volume_id: toNfs.volume },
        },
      ],
    });
    expect(again.members).toHaveLength(2);
    const members = join(stateDir, 'untar');
    await mkdir(members);
    await run('tar', ['-xf', onServer(exportDomain, 'ova', 'from-nfs.ova'), '-C', members]);
    await expect(
      qemuImg('compare', '-f', 'qcow2', '-F', 'qcow2', srcPath, join(members, toNfs.disk, toNfs.volume)),
    ).resolves.toBeDefined();
  });

  it('refuses hostile OVAs on the export with their codes and leaves nothing on the data domain', async () => {
    const tree = new NfsTree(nfsDomain(exportDomain.id) as NonNullable<ReturnType<typeof nfsDomain>>);
    // Written through the NFS client, as a copy onto the share would arrive.
    const put = async (name: string, data: Buffer) => {
      const w = await tree.create(`ova/${name}.ova`);
      await w.write(data);
      await w.close();
    };
    const descriptor =
      '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 65536 FLAT "/etc/shadow" 0\n';
    await put(
      'flat',
      tar([
        { name: 'flat.ovf', data: Buffer.from('<Envelope/>') },
        { name: 'flat.vmdk', data: Buffer.from(descriptor) },
      ]),
    );
    const backed = join(stateDir, 'backed.qcow2');
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', backed, '1M');
    const m = { disk: randomUUID(), volume: randomUUID() };
    await put(
      'backed',
      tar([
        { name: 'backed.ovf', data: Buffer.from('<Envelope/>') },
        { name: `${m.disk}/${m.volume}`, data: await readFile(backed) },
      ]),
    );
    // Cut inside the OVF member: it runs past the end of the file.
    await put('short', tar([{ name: 'short.ovf', data: Buffer.alloc(400, 0x20) }]).subarray(0, 700));
    const before = await readdir(onServer(dataDomain, 'images'));
    const to = () => ({
      domain_id: dataDomain.id,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    });
    await expect(
      ova.extract({
        job_id: randomUUID(),
        domain_id: exportDomain.id,
        name: 'flat',
        disks: [{ member: { file: 'flat.vmdk', format: 'vmdk' }, to: to(), max_virtual_size: 64 * MiB }],
      }),
    ).rejects.toMatchObject({ code: 'image_external_extent' });
    await expect(
      ova.extract({
        job_id: randomUUID(),
        domain_id: exportDomain.id,
        name: 'backed',
        disks: [{ member: { disk_id: m.disk, volume_id: m.volume }, to: to(), max_virtual_size: 64 * MiB }],
      }),
    ).rejects.toMatchObject({ code: 'image_has_backing_file' });
    await expect(ova.read({ domain_id: exportDomain.id, name: 'short' })).rejects.toMatchObject({
      code: 'ova_invalid',
    });
    // Larger than the data domain could hold: refused before anything is written.
    await expect(
      ova.extract({
        job_id: randomUUID(),
        domain_id: exportDomain.id,
        name: 'web1',
        disks: [
          {
            member: { disk_id: src.disk, volume_id: src.volume },
            to: to(),
            max_virtual_size: Number.MAX_SAFE_INTEGER,
          },
        ],
      }),
    ).rejects.toMatchObject({ code: 'image_too_large' });
    expect(await readdir(onServer(dataDomain, 'images'))).toEqual(before);
    expect(await readdir(staging)).toEqual([]);
    // A source volume on the nfs data domain with a planted backing file is never packed.
    const planted = { disk: randomUUID(), volume: randomUUID() };
    await mkdir(onServer(dataDomain, 'images', planted.disk));
    await qemuImg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      '/etc/shadow',
      '-F',
      'raw',
      onServer(dataDomain, 'images', planted.disk, planted.volume),
      '1M',
    );
    await expect(
      ova.pack({
        job_id: randomUUID(),
        domain_id: exportDomain.id,
        name: 'planted',
        ovf: '<Envelope/>',
        overwrite: false,
        disks: [
          {
            from: {
              domain_id: dataDomain.id,
              disk_id: planted.disk,
              volume_id: planted.volume,
              format: 'qcow2',
            },
            member: { disk_id: planted.disk, volume_id: planted.volume },
          },
        ],
      }),
    ).rejects.toMatchObject({ code: 'image_invalid' });
    expect((await ova.list(exportDomain.id)).names).not.toContain('planted');
    await rm(onServer(dataDomain, 'images', planted.disk), { recursive: true });
    // A symlink planted on the share is never opened as an OVA.
    await symlink('/etc/passwd', onServer(exportDomain, 'ova', 'link.ova'));
    expect((await ova.list(exportDomain.id)).names).not.toContain('link');
    await expect(ova.read({ domain_id: exportDomain.id, name: 'link' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
  });
});

describe('the staging directory', () => {
  it('loses what an earlier run left behind at start, never a job started since', async () => {
    const old = join(staging, `pack-${randomUUID()}`);
    const fresh = join(staging, `extract-${randomUUID()}`);
    await mkdir(join(old, 'x'), { recursive: true });
    await utimes(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const start = new Date(Date.now() - 60_000);
    await mkdir(fresh);
    await ova.cleanStaging(start);
    expect(await readdir(staging)).toEqual([fresh.slice(staging.length + 1)]);
    await rm(fresh, { recursive: true });
  });
});

describe('exported volumes (OVF + images) on a userspace-mode nfs export domain', () => {
  it('passes a good volume through the gate over NFS and refuses planted ones with their codes', async () => {
    const vol = async (make: (path: string) => Promise<unknown>) => {
      const v = { disk: randomUUID(), volume: randomUUID() };
      await mkdir(onServer(exportDomain, 'images', v.disk), { recursive: true });
      await make(onServer(exportDomain, 'images', v.disk, v.volume));
      return v;
    };
    const check = (v: { disk: string; volume: string }, format: 'qcow2' | 'raw', max = 64 * MiB) =>
      ova.checkVolume({
        domain_id: exportDomain.id,
        disk_id: v.disk,
        volume_id: v.volume,
        format,
        max_virtual_size: max,
      });
    const good = await vol((p) => qemuImg('create', '-q', '-f', 'qcow2', p, '16M'));
    expect(await check(good, 'qcow2')).toMatchObject({ virtual_size: 16 * MiB });
    await expect(check(good, 'qcow2', MiB)).rejects.toMatchObject({ code: 'image_too_large' });
    await expect(check(good, 'raw')).rejects.toMatchObject({ code: 'image_format_mismatch' });
    const backed = await vol((p) =>
      qemuImg('create', '-q', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', p, '1M'),
    );
    await expect(check(backed, 'qcow2')).rejects.toMatchObject({ code: 'image_has_backing_file' });
    const json = await vol((p) =>
      qemuImg(
        'create',
        '-q',
        '-f',
        'qcow2',
        '-u',
        '-b',
        'json:{"file.filename":"/etc/shadow"}',
        '-F',
        'raw',
        p,
        '1M',
      ),
    );
    await expect(check(json, 'qcow2')).rejects.toMatchObject({ code: 'image_json_filename' });
    const linked = await vol((p) => symlink('/etc/passwd', p));
    await expect(check(linked, 'raw')).rejects.toMatchObject({ code: 'path_not_allowed' });
    // On a directory domain, a disk directory that is a symlink out of the domain is refused.
    const outside = join(stateDir, 'outside');
    const v = { disk: randomUUID(), volume: randomUUID() };
    await mkdir(outside);
    await qemuImg('create', '-q', '-f', 'qcow2', join(outside, v.volume), '1M');
    await symlink(outside, join(local.roots.get(localData) as string, 'images', v.disk));
    await expect(
      ova.checkVolume({
        domain_id: localData,
        disk_id: v.disk,
        volume_id: v.volume,
        format: 'qcow2',
        max_virtual_size: MiB,
      }),
    ).rejects.toMatchObject({ code: 'path_not_allowed' });
    const raw = await vol((p) => qemuImg('create', '-q', '-f', 'raw', p, '2M'));
    expect(await check(raw, 'raw')).toMatchObject({ virtual_size: 2 * MiB });
  });
});

describe('master files and registration scans on userspace-mode nfs domains', () => {
  it('writes, reads, lists and deletes OVF files through the NFS client, never through a link', async () => {
    const id = exportDomain.id;
    await files.write({ domain_id: id, path: 'vms/a/a.ovf', content: 'hello ✓' });
    await files.write({ domain_id: id, path: 'vms/a/a.ovf', content: 'second' });
    expect(await readFile(onServer(exportDomain, 'master/vms/a/a.ovf'), 'utf8')).toBe('second');
    expect(await readdir(onServer(exportDomain, 'master/vms/a'))).toEqual(['a.ovf']);
    expect((await files.read({ domain_id: id, path: 'vms/a/a.ovf' })).content).toBe('second');
    const { entries } = await files.list({ domain_id: id, dir: 'vms', recursive: true });
    expect(entries.map((e) => [e.path, e.kind, e.size_bytes])).toEqual([
      ['vms/a', 'dir', 0],
      ['vms/a/a.ovf', 'file', 6],
    ]);
    await symlink('/etc', onServer(exportDomain, 'master/linkdir'));
    await symlink('/etc/passwd', onServer(exportDomain, 'master/link.txt'));
    await expect(files.read({ domain_id: id, path: 'linkdir/passwd' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(files.read({ domain_id: id, path: 'link.txt' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(files.write({ domain_id: id, path: 'linkdir/x', content: 'x' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect((await files.list({ domain_id: id })).entries.map((e) => e.path)).toEqual(['vms']);
    await expect(files.delete({ domain_id: id, path: 'vms/a' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await files.delete({ domain_id: id, path: 'vms/a', recursive: true })).toEqual({ deleted: true });
    expect(await files.delete({ domain_id: id, path: 'link.txt' })).toEqual({ deleted: true });
    expect(await readFile('/etc/passwd', 'utf8')).toContain('root');
    await expect(files.read({ domain_id: id, path: 'vms/a/a.ovf' })).rejects.toMatchObject({
      code: 'file_not_found',
    });
  });

  it('scans an nfs data domain: good disks with sizes, planted backing files and links refused', async () => {
    const tree = new NfsTree(nfsDomain(dataDomain.id) as NonNullable<ReturnType<typeof nfsDomain>>);
    const good = { disk: randomUUID(), volume: randomUUID() };
    await mkdir(onServer(dataDomain, 'images', good.disk));
    await qemuImg(
      'create',
      '-q',
      '-f',
      'qcow2',
      onServer(dataDomain, 'images', good.disk, good.volume),
      '8M',
    );
    const bad = { disk: randomUUID(), volume: randomUUID() };
    await mkdir(onServer(dataDomain, 'images', bad.disk));
    const badFile = onServer(dataDomain, 'images', bad.disk, bad.volume);
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', badFile, '8M');
    const linked = randomUUID();
    await symlink('/etc', onServer(dataDomain, 'images', linked));
    const found = await scanDisks(tree, { diskIds: [good.disk, bad.disk, linked] });
    expect(found.find((d) => d.disk_id === good.disk)).toMatchObject({
      volumes: [{ volume_id: good.volume, format: 'qcow2', virtual_size: 8 * MiB, parent: null }],
    });
    expect(found.find((d) => d.disk_id === good.disk)?.problem).toBeUndefined();
    expect(found.find((d) => d.disk_id === bad.disk)?.problem?.code).toBe('image_chain_invalid');
    expect(found.find((d) => d.disk_id === linked)?.problem?.code).toBe('image_not_found');
    // The whole directory, as the registration of a detached domain scans it.
    const all = await scanDisks(tree);
    expect(all.map((d) => d.disk_id)).toContain(good.disk);
  });
});
