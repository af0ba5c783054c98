import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StorageDomainRef } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import type { StorageDomains } from '../src/storage/domains/service';
import { UserspaceCopies } from '../src/storage/nfs/copy';
import { retryLuksBenchmark } from '../src/storage/qemu-img';
import { nfsDomainRef, userspaceNfsDomains } from './support/nfs-domains';

/**
 * Copying a volume with a backing chain (a snapshot on a thin clone of another disk) off a
 * userspace-mode nfs domain (ADR 027 decision 12) against nfs-ganesha: the chain is staged in the
 * agent's state dir, copied to a local domain equal to the source, the staging gone; a planted
 * chain (an absolute backing name) is still refused before anything is staged.
 */

const run = promisify(execFile);
const log = pino({ level: 'silent' });
let nfs: TestNfsServer;
let stateDir: string;
let domains: StorageDomains;
let data: StorageDomainRef;
let copies: UserspaceCopies;
let localRoot: string;
const localId = randomUUID();

beforeAll(async () => {
  nfs = await startNfsServer('nfschaincp');
  stateDir = await mkdtemp(join(tmpdir(), 'vireo-nfs-chaincp-'));
  domains = userspaceNfsDomains(stateDir, log);
  data = nfsDomainRef(nfs, 'data');
  await domains.activate({ domain: data, engine_id: randomUUID(), create_metadata: true });
  localRoot = join(stateDir, 'local', localId);
  await mkdir(join(localRoot, 'images'), { recursive: true });
  copies = new UserspaceCopies({
    domain: (id) => domains.userspaceDomain(id),
    unavailable: (id, feature) => domains.featureUnavailable(id, feature),
    resolveRoot: async () => localRoot,
    emit: (() => undefined) as never,
    log,
    secretsDir: join(stateDir, 'secrets'),
  });
}, 120_000);

afterAll(async () => {
  await nfs?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const qimg = (...args: string[]) => run('qemu-img', args);
/** A qemu-img create of a LUKS image, again while QEMU's PBKDF calibration flakes (as the agent does). */
const luksCreate = (...args: string[]) =>
  retryLuksBenchmark(
    () => run('qemu-img', ['create', ...args]),
    () => rm(args[args.length - 2] as string, { force: true }),
  );

describe('copying a chain off a userspace-mode nfs domain', () => {
  it('stages a snapshot on a thin clone and copies it to a local domain, equal to the source', async () => {
    const [tmpl, disk] = [randomUUID(), randomUUID()];
    const [base, clone, snap] = [randomUUID(), randomUUID(), randomUUID()];
    const images = join(nfs.dir, data.id, 'images');
    await mkdir(join(images, tmpl));
    await mkdir(join(images, disk));
    await qimg('create', '-q', '-f', 'qcow2', join(images, tmpl, base), '8M');
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', join(images, tmpl, base)]);
    await qimg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      `../${tmpl}/${base}`,
      '-F',
      'qcow2',
      join(images, disk, clone),
    );
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x6b 1M 1M', join(images, disk, clone)]);
    await qimg('create', '-q', '-f', 'qcow2', '-b', clone, '-F', 'qcow2', join(images, disk, snap));
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x7c 2M 512k', join(images, disk, snap)]);

    const to = {
      domain_id: localId,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    const info = await copies.copy({
      job_id: randomUUID(),
      from: { domain_id: data.id, disk_id: disk, volume_id: snap, format: 'qcow2' },
      to,
    });
    expect(info).toMatchObject({ backing: null, virtual_size: 8 * 1024 * 1024 });
    const target = join(localRoot, 'images', to.disk_id, to.volume_id);
    // Exit status 0: equal contents (1 would mean they differ).
    await qimg('compare', '-f', 'qcow2', '-F', 'qcow2', join(images, disk, snap), target);
    expect(await readdir(join(stateDir, 'nfs-chain-staging'))).toEqual([]);
  }, 120_000);

  it('copies an encrypted snapshot on an encrypted thin clone nfs to nfs, re-keyed, equal to the source', async () => {
    const keys = { kt: Buffer.alloc(32, 0x11), kv: Buffer.alloc(32, 0x22), kn: Buffer.alloc(32, 0x33) };
    const objects: string[] = [];
    for (const [id, key] of Object.entries(keys)) {
      const file = join(stateDir, `${id}.key`);
      await writeFile(file, key.toString('base64'), { mode: 0o600 });
      objects.push('--object', `secret,id=${id},format=raw,file=${file}`);
    }
    const luks = (id: string) => ['-o', `encrypt.format=luks,encrypt.key-secret=${id},encrypt.iter-time=50`];
    const [tmpl, disk] = [randomUUID(), randomUUID()];
    const [base, clone, snap] = [randomUUID(), randomUUID(), randomUUID()];
    const images = join(nfs.dir, data.id, 'images');
    await mkdir(join(images, tmpl));
    await mkdir(join(images, disk));
    await luksCreate('-q', ...objects, '-f', 'qcow2', ...luks('kt'), join(images, tmpl, base), '8M');
    const chainOpts = (file: string, ...layerKeys: string[]) =>
      [
        `driver=qcow2,file.filename=${file}`,
        ...layerKeys.map((k, i) => `${'backing.'.repeat(i)}encrypt.key-secret=${k}`),
      ].join(',');
    await run('qemu-io', [
      ...objects,
      '--image-opts',
      chainOpts(join(images, tmpl, base), 'kt'),
      '-c',
      'write -P 0x5a 0 1M',
    ]);
    await luksCreate(
      '-q',
      ...objects,
      '-f',
      'qcow2',
      ...luks('kv'),
      '-u',
      '-b',
      `../${tmpl}/${base}`,
      '-F',
      'qcow2',
      join(images, disk, clone),
      '8M',
    );
    await luksCreate(
      '-q',
      ...objects,
      '-f',
      'qcow2',
      ...luks('kv'),
      '-u',
      '-b',
      clone,
      '-F',
      'qcow2',
      join(images, disk, snap),
      '8M',
    );
    const src = chainOpts(join(images, disk, snap), 'kv', 'kv', 'kt');
    await run('qemu-io', [...objects, '--image-opts', src, '-c', 'write -P 0x7c 2M 512k']);

    const to = {
      domain_id: data.id,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    const info = await copies.copy({
      job_id: randomUUID(),
      from: { domain_id: data.id, disk_id: disk, volume_id: snap, format: 'qcow2' },
      to,
      source_encryption: { secret: keys.kv.toString('base64'), base_secret: keys.kt.toString('base64') },
      target_encryption: { secret: keys.kn.toString('base64') },
    });
    expect(info).toMatchObject({ backing: null, virtual_size: 8 * 1024 * 1024 });
    const target = chainOpts(join(images, to.disk_id, to.volume_id), 'kn');
    await qimg('compare', ...objects, '--image-opts', src, target);
    expect(await readdir(join(stateDir, 'nfs-chain-staging'))).toEqual([]);
  }, 180_000);

  it('refuses a chain whose backing name is absolute, staging nothing', async () => {
    const disk = randomUUID();
    const [v0, v1] = [randomUUID(), randomUUID()];
    const dir = join(nfs.dir, data.id, 'images', disk);
    await mkdir(dir);
    await qimg('create', '-q', '-f', 'qcow2', join(dir, v0), '8M');
    await qimg('create', '-q', '-f', 'qcow2', '-u', '-b', join(dir, v0), '-F', 'qcow2', join(dir, v1), '8M');
    const to = {
      domain_id: localId,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    await expect(
      copies.copy({
        job_id: randomUUID(),
        from: { domain_id: data.id, disk_id: disk, volume_id: v1, format: 'qcow2' },
        to,
      }),
    ).rejects.toMatchObject({ code: 'image_invalid' });
    await expect(readdir(join(localRoot, 'images', to.disk_id))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(stateDir, 'nfs-chain-staging')).catch(() => [])).toEqual([]);
  }, 60_000);
});
