import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { TRANSFER_HTTP_PREFIX, type TransferStartParams } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../util/errors';
import { transferRequestHandler } from './http';
import { TransferManager } from './manager';

const MiB = 1024 * 1024;
let base: string;
let root: string;
let domainId: string;
let manager: TransferManager;
let server: Server;
let port: number;
const secret = randomBytes(32).toString('base64url');

function qemuImg(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: 'pipe' });
}

/** Every path under the domain root, sorted: what "nothing was written" is checked against. */
function listTree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map((p) => relative(dir, join(dir, p))).sort();
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  raw: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP request to the data endpoint; `abortAfter` sends that many body bytes and then drops the connection. */
function call(
  method: string,
  id: string,
  options: {
    body?: Buffer;
    headers?: Record<string, string>;
    abortAfter?: number;
    auth?: string;
    port?: number;
  } = {},
): Promise<Reply | 'aborted'> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: options.port ?? port,
        method,
        path: TRANSFER_HTTP_PREFIX + id,
        headers: { authorization: `Bearer ${options.auth ?? secret}`, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          let body: Record<string, unknown> = {};
          if (String(res.headers['content-type']).includes('json')) body = JSON.parse(raw.toString('utf8'));
          resolve({ status: res.statusCode ?? 0, body, raw, headers: res.headers });
        });
      },
    );
    if (options.abortAfter !== undefined && options.body) {
      req.on('error', () => resolve('aborted'));
      req.write(options.body.subarray(0, options.abortAfter), () => {
        // Let the bytes reach the agent before the connection drops.
        setTimeout(() => req.destroy(), 200);
      });
      return;
    }
    req.on('error', reject);
    req.end(options.body);
  });
}

function put(
  id: string,
  data: Buffer,
  start: number,
  total: number,
  opts: { abortAfter?: number; port?: number; auth?: string } = {},
) {
  return call('PUT', id, {
    body: data,
    headers: {
      'content-range': `bytes ${start}-${start + data.length - 1}/${total}`,
      'content-length': String(data.length),
    },
    ...opts,
  });
}

async function startUpload(file: Buffer, extra: Partial<TransferStartParams>): Promise<string> {
  const id = randomUUID();
  await manager.start({
    transfer_id: id,
    direction: 'upload',
    domain_id: domainId,
    target: { kind: 'volume', disk_id: randomUUID(), volume_id: randomUUID() },
    format: 'qcow2',
    size_bytes: file.length,
    secret,
    ...extra,
  });
  return id;
}

/** Uploads `file` in one request and finalizes it; returns the error the finalize threw, if any. */
async function uploadAndFinalize(file: Buffer, format: 'raw' | 'qcow2' | 'iso', sha256?: string) {
  const id = await startUpload(file, { format });
  const r = await put(id, file, 0, file.length);
  expect(r !== 'aborted' && r.status).toBe(200);
  return manager
    .finalize({ transfer_id: id, max_virtual_size: 1024 * MiB, ...(sha256 ? { sha256 } : {}) })
    .then(
      () => undefined,
      (e: unknown) => e as AgentError,
    );
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'vireo-transfers-'));
  domainId = randomUUID();
  root = join(base, domainId);
  mkdirSync(join(root, 'images'), { recursive: true });
  mkdirSync(join(root, 'dom_md'));
  const log = pino({ level: 'silent' });
  manager = new TransferManager(async (id) => {
    if (id !== domainId) throw new AgentError('storage_domain_not_active' as never, 'unknown domain');
    return root;
  }, log);
  const handle = transferRequestHandler(manager, log);
  server = createServer((req, res) => {
    if (!handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  manager.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(base, { recursive: true, force: true });
});

describe('hostile uploads are refused at finalize and leave nothing in the domain', () => {
  const cases: { name: string; code: string; make: (path: string) => void }[] = [
    {
      name: 'a qcow2 whose backing file is /etc/shadow',
      code: 'image_has_backing_file',
      make: (p) => qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', p, '1M'),
    },
    {
      name: 'a qcow2 with a json: backing name',
      code: 'image_json_filename',
      make: (p) =>
        qemuImg(
          'create',
          '-q',
          '-f',
          'qcow2',
          '-u',
          '-b',
          'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/shadow"}}',
          '-F',
          'raw',
          p,
          '1M',
        ),
    },
    {
      name: 'a qcow2 whose header claims an enormous size',
      code: 'image_too_large',
      make: (p) => {
        qemuImg('create', '-q', '-f', 'qcow2', p, '1M');
        const size = Buffer.alloc(8);
        size.writeBigUInt64BE(1n << 50n); // 1 PiB: far more than the domain's free space
        const fd = openSync(p, 'r+');
        writeSync(fd, size, 0, 8, 24);
        closeSync(fd);
      },
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.code}`, async () => {
      const crafted = join(base, `crafted-${randomUUID()}`);
      c.make(crafted);
      const before = listTree(root);
      const error = await uploadAndFinalize(readFileSync(crafted), 'qcow2');
      expect(error).toBeInstanceOf(AgentError);
      expect(error?.code).toBe(c.code);
      expect(listTree(root)).toEqual(before);
      rmSync(crafted);
    });
  }

  it('a qcow2 declared raw is refused (image_format_mismatch)', async () => {
    const crafted = join(base, 'q.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', crafted, '1M');
    const before = listTree(root);
    expect((await uploadAndFinalize(readFileSync(crafted), 'raw'))?.code).toBe('image_format_mismatch');
    expect(listTree(root)).toEqual(before);
  });

  it('an image below min_virtual_size is refused (image_unsupported) before it is moved in', async () => {
    const data = randomBytes(512 * 1024);
    const before = listTree(root);
    const id = await startUpload(data, { format: 'raw' });
    expect(await put(id, data, 0, data.length)).toMatchObject({ status: 200 });
    const error = await manager
      .finalize({ transfer_id: id, max_virtual_size: 8 * MiB, min_virtual_size: MiB })
      .catch((e: unknown) => e as AgentError);
    expect(error).toMatchObject({ code: 'image_unsupported', details: { virtual_size: data.length } });
    expect(listTree(root)).toEqual(before);
  });

  it('a wrong SHA-256 is refused (checksum_mismatch) and the staging file is removed', async () => {
    const data = randomBytes(256 * 1024);
    const before = listTree(root);
    const wrong = createHash('sha256').update('something else').digest('hex');
    const error = await uploadAndFinalize(data, 'raw', wrong);
    expect(error?.code).toBe('checksum_mismatch');
    expect(error?.details?.actual).toBe(createHash('sha256').update(data).digest('hex'));
    expect(listTree(root)).toEqual(before);
  });

  it('a file without an ISO 9660 descriptor is refused as iso', async () => {
    const id = randomUUID();
    const data = randomBytes(64 * 1024);
    await manager.start({
      transfer_id: id,
      direction: 'upload',
      domain_id: domainId,
      target: { kind: 'iso', file: 'fake.iso' },
      format: 'iso',
      size_bytes: data.length,
      secret,
    });
    expect(await put(id, data, 0, data.length)).toMatchObject({ status: 200 });
    const before = listTree(root).filter((p) => !p.startsWith('staging'));
    const error = await manager.finalize({ transfer_id: id, max_virtual_size: MiB }).catch((e) => e);
    expect(error.code).toBe('image_format_mismatch');
    expect(listTree(root)).toEqual(before);
  });
});

describe('resumable, checksummed uploads and ranged downloads', () => {
  it('a raw upload interrupted mid-stream resumes at bytes_done and lands in place', async () => {
    const data = randomBytes(3 * MiB);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const diskId = randomUUID();
    const volumeId = randomUUID();
    const id = await startUpload(data, {
      format: 'raw',
      target: { kind: 'volume', disk_id: diskId, volume_id: volumeId },
    });

    expect(await put(id, data, 0, data.length, { abortAfter: MiB })).toBe('aborted');
    await waitFor(() => !manager.status(id).busy, 'the interrupted request to end');
    const done = manager.status(id).bytes_done;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThanOrEqual(MiB);

    // Not at bytes_done: 416 with the offset to continue from.
    const wrong = await put(id, data.subarray(done + 1), done + 1, data.length);
    expect(wrong).toMatchObject({
      status: 416,
      body: { error: { code: 'transfer_offset_mismatch', details: { bytes_done: done } } },
    });
    // Finalize before every byte arrived is refused and keeps the upload.
    const early = await manager.finalize({ transfer_id: id, max_virtual_size: 8 * MiB }).catch((e) => e);
    expect(early.code).toBe('transfer_incomplete');

    const rest = await put(id, data.subarray(done), done, data.length);
    expect(rest).toMatchObject({ status: 200, body: { bytes_done: data.length } });
    const result = await manager.finalize({ transfer_id: id, sha256, max_virtual_size: 8 * MiB });
    expect(result).toMatchObject({ sha256, virtual_size: data.length });
    const placed = join(root, 'images', diskId, volumeId);
    expect(readFileSync(placed).equals(data)).toBe(true);
    expect(listTree(root).some((p) => p.startsWith('staging'))).toBe(false);

    // Download it back, whole and by range.
    const down = randomUUID();
    await manager.start({
      transfer_id: down,
      direction: 'download',
      domain_id: domainId,
      target: { kind: 'volume', disk_id: diskId, volume_id: volumeId },
      format: 'raw',
      secret,
    });
    const whole = await call('GET', down);
    expect(whole !== 'aborted' && whole.raw.equals(data)).toBe(true);
    const part = await call('GET', down, { headers: { range: `bytes=${MiB}-` } });
    expect(part).toMatchObject({ status: 206 });
    expect(part !== 'aborted' && part.raw.equals(data.subarray(MiB))).toBe(true);
    expect(part !== 'aborted' && part.headers['content-range']).toBe(
      `bytes ${MiB}-${data.length - 1}/${data.length}`,
    );
    const beyond = await call('GET', down, { headers: { range: `bytes=${data.length}-` } });
    expect(beyond).toMatchObject({ status: 416 });
    await manager.cancel(down);
  });

  it('a qcow2 upload survives an agent restart (the staging file is the resume point)', async () => {
    const src = join(base, 'data.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', src, '16M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', src], { stdio: 'ignore' });
    const data = readFileSync(src);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const target = { kind: 'volume' as const, disk_id: randomUUID(), volume_id: randomUUID() };
    const id = await startUpload(data, { format: 'qcow2', target });
    const half = Math.floor(data.length / 2);
    expect(await put(id, data.subarray(0, half), 0, data.length)).toMatchObject({ status: 200 });

    // A new manager (agent restarted): start again with a new secret, as a restarted engine would.
    const log = pino({ level: 'silent' });
    const again = new TransferManager(async () => root, log);
    const secret2 = randomBytes(32).toString('base64url');
    const params = { transfer_id: id, direction: 'upload' as const, domain_id: domainId, target };
    const status = await again.start({
      ...params,
      format: 'qcow2',
      size_bytes: data.length,
      secret: secret2,
    });
    expect(status.bytes_done).toBe(half);
    const handle = transferRequestHandler(again, log);
    const other = createServer((req, res) => void handle(req, res));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherPort = (other.address() as AddressInfo).port;
    try {
      // The old secret no longer opens the transfer.
      const stale = await put(id, data.subarray(half), half, data.length, { port: otherPort });
      expect(stale).toMatchObject({ status: 403 });
      const rest = await put(id, data.subarray(half), half, data.length, { port: otherPort, auth: secret2 });
      expect(rest).toMatchObject({ status: 200, body: { bytes_done: data.length } });
      // The checksum is recomputed from the file (this process never saw the first half).
      const result = await again.finalize({ transfer_id: id, sha256, max_virtual_size: 16 * MiB });
      expect(result).toMatchObject({ sha256, virtual_size: 16 * MiB });
      expect(readFileSync(join(root, 'images', target.disk_id, target.volume_id)).equals(data)).toBe(true);
    } finally {
      again.close();
      manager.close();
      other.closeAllConnections();
      await new Promise((r) => other.close(r));
    }
  });

  it('refuses a wrong secret, a busy transfer and a range past the announced size', async () => {
    const data = randomBytes(64 * 1024);
    const id = await startUpload(data, { format: 'raw' });
    expect(await call('PUT', id, { auth: 'x'.repeat(43), body: data })).toMatchObject({
      status: 403,
      body: { error: { code: 'transfer_forbidden' } },
    });
    expect(
      await call('PUT', id, {
        body: data,
        headers: { 'content-range': `bytes 0-${data.length - 1}/${data.length + 1}` },
      }),
    ).toMatchObject({ status: 400, body: { error: { code: 'invalid_content_range' } } });
    expect(await call('GET', id)).toMatchObject({ status: 405 });
    expect(await call('PUT', randomUUID(), { body: data })).toMatchObject({
      status: 404,
      body: { error: { code: 'transfer_not_found' } },
    });
    expect((await manager.cancel(id)).removed).toBe(true);
    expect(listTree(root).some((p) => p.includes(id))).toBe(false);
  });
});
