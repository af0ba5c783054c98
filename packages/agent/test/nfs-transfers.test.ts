import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TRANSFER_HTTP_PREFIX, type StorageDomainRef, type TransferStartParams } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import type { StorageDomains } from '../src/storage/domains/service';
import { UserspaceCopies } from '../src/storage/nfs/copy';
import { UserspaceNfsTransfers } from '../src/storage/nfs/transfers';
import { TransferManager, transferRequestHandler } from '../src/storage/transfers';
import { nfsDomainRef, userspaceNfsDomains } from './support/nfs-domains';

/**
 * Uploads and downloads on nfs domains served in userspace mode (ADR 027) against a real NFSv3
 * server (nfs-ganesha in a test network namespace): staged in the agent's state dir, gated there,
 * then written through QEMU's nfs driver (volumes) or the agent's NFS client (ISOs).
 */

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const ENGINE = randomUUID();
const secret = randomBytes(32).toString('base64url');
let nfs: TestNfsServer;
let stateDir: string;
let work: string;
let domains: StorageDomains;
let manager: TransferManager;
let http: Server;
let port: number;
let data: StorageDomainRef;
let iso: StorageDomainRef;

function ref(kind: 'data' | 'iso'): StorageDomainRef {
  return nfsDomainRef(nfs, kind);
}

/** PUT the whole file in one Content-Range request, as the engine's relay does. */
function put(id: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: TRANSFER_HTTP_PREFIX + id,
        headers: {
          authorization: `Bearer ${secret}`,
          'content-range': `bytes 0-${body.length - 1}/${body.length}`,
          'content-length': String(body.length),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(id: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: TRANSFER_HTTP_PREFIX + id,
        headers: { authorization: `Bearer ${secret}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`GET ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Starts, sends and finalizes one upload; returns the finalize result or throws its error. */
async function upload(
  domain: StorageDomainRef,
  target: TransferStartParams['target'],
  format: TransferStartParams['format'],
  body: Buffer,
) {
  const id = randomUUID();
  await manager.start({
    transfer_id: id,
    direction: 'upload',
    domain_id: domain.id,
    target,
    format,
    size_bytes: body.length,
    secret,
  });
  expect(await put(id, body)).toBe(200);
  return manager.finalize({ transfer_id: id, sha256: sha(body), max_virtual_size: 1 << 30 });
}

/** Files left in the staging area of a domain (must be none once a transfer ended). */
async function staged(domain: StorageDomainRef): Promise<string[]> {
  return readdir(join(stateDir, 'transfers', domain.id, 'staging')).catch(() => []);
}

beforeAll(async () => {
  nfs = await startNfsServer('nfsxfer');
  stateDir = await mkdtemp(join(tmpdir(), 'vireo-nfs-xfer-'));
  work = join(stateDir, 'work');
  await mkdir(work);
  domains = userspaceNfsDomains(stateDir, log);
  manager = new TransferManager(
    (id) => domains.rootOf(id),
    log,
    new UserspaceNfsTransfers({ domain: (id) => domains.userspaceDomain(id), stateDir }),
  );
  const handle = transferRequestHandler(manager, log);
  http = createServer((req, res) => {
    if (!handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  port = (http.address() as AddressInfo).port;
  data = ref('data');
  iso = ref('iso');
  await domains.activate({ domain: data, engine_id: ENGINE, create_metadata: true });
  await domains.activate({ domain: iso, engine_id: ENGINE, create_metadata: true });
}, 120_000);

afterAll(async () => {
  manager?.close();
  await new Promise((r) => http?.close(r));
  await nfs?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('uploads and downloads on userspace-mode nfs domains', () => {
  it('uploads a qcow2 and a raw volume through the nfs driver and downloads the raw one byte for byte', async () => {
    // A qcow2 with data in it: placed by qemu-img convert, the guest data unchanged.
    const q = join(work, 'up.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', q, '8M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 256k', q]);
    const qTarget = { kind: 'volume' as const, disk_id: randomUUID(), volume_id: randomUUID() };
    const done = await upload(data, qTarget, 'qcow2', await readFile(q));
    expect(done.virtual_size).toBe(8 << 20);
    const onServer = join(nfs.dir, data.id, 'images', qTarget.disk_id, qTarget.volume_id);
    await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', q, onServer]);
    expect(await readdir(join(nfs.dir, data.id, 'images', qTarget.disk_id))).toEqual([qTarget.volume_id]);
    // A second upload to the same volume without replace: image_exists, the first one kept.
    await expect(
      manager.start({
        transfer_id: randomUUID(),
        direction: 'upload',
        domain_id: data.id,
        target: qTarget,
        format: 'qcow2',
        size_bytes: 1024,
        secret,
      }),
    ).rejects.toMatchObject({ code: 'image_exists' });

    // A raw volume, downloaded back: the same bytes, and the local copy gone when the transfer ends.
    const raw = Buffer.concat([randomBytes(300_000), Buffer.alloc(200_000), randomBytes(24_288)]);
    const rTarget = { kind: 'volume' as const, disk_id: randomUUID(), volume_id: randomUUID() };
    await upload(data, rTarget, 'raw', raw);
    const dl = randomUUID();
    const status = await manager.start({
      transfer_id: dl,
      direction: 'download',
      domain_id: data.id,
      target: rTarget,
      format: 'raw',
      secret,
    });
    expect(status.size_bytes).toBe(raw.length);
    expect(sha(await get(dl))).toBe(sha(raw));
    expect(await staged(data)).toEqual([`${dl}.download`]);
    await manager.cancel(dl);
    expect(await staged(data)).toEqual([]);
  }, 120_000);

  it('uploads an ISO through the NFS client', async () => {
    const dir = join(work, 'iso-tree');
    await mkdir(dir);
    await writeFile(join(dir, 'hello.txt'), 'hello from the nfs iso\n');
    const file = join(work, 'small.iso');
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', file, dir]);
    const bytes = await readFile(file);
    await upload(iso, { kind: 'iso', file: 'small.iso' }, 'iso', bytes);
    expect(sha(await readFile(join(nfs.dir, iso.id, 'images', 'iso', 'small.iso')))).toBe(sha(bytes));
    // Only the image: no temporary name left beside it, nothing staged.
    expect(await readdir(join(nfs.dir, iso.id, 'images', 'iso'))).toEqual(['small.iso']);
    expect(await staged(iso)).toEqual([]);
    // Not an ISO 9660 image: refused at the gate, nothing written.
    await expect(
      upload(iso, { kind: 'iso', file: 'fake.iso' }, 'iso', randomBytes(64 * 1024)),
    ).rejects.toMatchObject({
      code: 'image_format_mismatch',
    });
    expect(await readdir(join(nfs.dir, iso.id, 'images', 'iso'))).toEqual(['small.iso']);
    expect(await staged(iso)).toEqual([]);
  }, 120_000);

  it('refuses a hostile qcow2 (backing file /etc/shadow) before anything reaches the domain; cancel removes the staging file', async () => {
    const evil = join(work, 'evil.qcow2');
    await run('qemu-img', [
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
    const target = { kind: 'volume' as const, disk_id: randomUUID(), volume_id: randomUUID() };
    await expect(upload(data, target, 'qcow2', await readFile(evil))).rejects.toMatchObject({
      code: expect.stringMatching(/^image_/),
    });
    await expect(stat(join(nfs.dir, data.id, 'images', target.disk_id))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await staged(data)).toEqual([]);

    // A cancelled upload (half sent): its staging file is removed, the domain untouched.
    const id = randomUUID();
    const other = { kind: 'volume' as const, disk_id: randomUUID(), volume_id: randomUUID() };
    await manager.start({
      transfer_id: id,
      direction: 'upload',
      domain_id: data.id,
      target: other,
      format: 'raw',
      size_bytes: 2 << 20,
      secret,
    });
    expect(await staged(data)).toEqual([`${id}.part`]);
    expect(await manager.cancel(id)).toMatchObject({ removed: true });
    expect(await staged(data)).toEqual([]);
    await expect(stat(join(nfs.dir, data.id, 'images', other.disk_id))).rejects.toMatchObject({
      code: 'ENOENT',
    });

    // More than the export has free: refused at start, nothing staged.
    await expect(
      manager.start({
        transfer_id: randomUUID(),
        direction: 'upload',
        domain_id: data.id,
        target: other,
        format: 'raw',
        size_bytes: 2 ** 52,
        secret,
      }),
    ).rejects.toMatchObject({ code: 'image_too_large' });
    expect(await staged(data)).toEqual([]);
  }, 120_000);

  it('copies a snapshot chain off the domain (staged locally, ADR 027 decision 12)', async () => {
    const localId = randomUUID();
    const localRoot = join(stateDir, 'local', localId);
    await mkdir(join(localRoot, 'images'), { recursive: true });
    const copies = new UserspaceCopies({
      domain: (id) => domains.userspaceDomain(id),
      unavailable: (id, feature) => domains.featureUnavailable(id, feature),
      resolveRoot: async () => localRoot,
      emit: (() => undefined) as never,
      log,
      secretsDir: join(stateDir, 'secrets'),
    });
    const disk = randomUUID();
    const [v0, v1] = [randomUUID(), randomUUID()];
    const dir = join(nfs.dir, data.id, 'images', disk);
    await mkdir(dir);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, v0), '8M']);
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-u',
      '-b',
      v0,
      '-F',
      'qcow2',
      join(dir, v1),
      '8M',
    ]);
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
    ).resolves.toMatchObject({ backing: null });
    expect(await readdir(join(localRoot, 'images'))).toEqual([to.disk_id]);
  }, 60_000);
});
