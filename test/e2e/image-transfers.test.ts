import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImageTransfer } from '@vireo/api';
import {
  ApiError,
  createTransfer,
  downloadImage,
  getTransfer,
  putChunk,
  uploadImage,
  VireoClient,
} from '@vireo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary, agentPids } from '../../packages/agent/test/support/binary';
import { runCli, loginCli } from '../cli/support/cli';
import { type EngineProcess, makeDataDir, removeDataDir, startEngine } from '../support/engine';
import { freePort } from '../support/net';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;
const MiB = 1024 * 1024;

/** Pids of `vireo-agent serve` processes whose command line names this state directory. */
/** Every path under `dir`, sorted: "nothing was written" is checked against it. */
function listTree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

function qemuImg(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: 'pipe' });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * Uploads and downloads through a real engine (HTTPS) and its local agent (mTLS data channel) into
 * real storage domains on this machine: crafted hostile images are refused with their codes and
 * leave the domain untouched; raw and qcow2 uploads survive an interruption, are checksummed and
 * come back byte-identical.
 */
describe('image transfers through the engine and the agent', () => {
  const dataDir = makeDataDir();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-e2e-transfers-'));
  let engine: EngineProcess | undefined;
  let client: VireoClient;
  let env: Record<string, string> = {};
  const domains: { data?: Json; iso?: Json } = {};
  const rootOf = (d: Json) => path.join(d.path, d.id);

  async function createDomain(
    name: string,
    kind: 'data' | 'iso',
    hostId: string,
    dcId: string,
  ): Promise<Json> {
    const dir = path.join(work, name);
    fs.mkdirSync(dir);
    const created = await client.request<Json>('POST', '/storage-domains', {
      body: { name, kind, backend: 'local', host_id: hostId, path: dir },
    });
    const domain = created.body;
    for (const [action, body] of [
      ['attach', { datacenter_id: dcId }],
      ['activate', undefined],
    ] as const) {
      const res = await client.request<Json>('POST', `/storage-domains/${domain.id}/${action}`, {
        ...(body ? { body } : {}),
      });
      const op = await client.waitForOperation(res.body.operation.id, { timeoutMs: 60_000 });
      expect(op.state, `${action} ${name}: ${JSON.stringify(op.error)}`).toBe('succeeded');
    }
    return (await client.request<Json>('GET', `/storage-domains/${domain.id}`)).body;
  }

  beforeAll(async () => {
    await ensureAgentBinary();
    const port = await freePort();
    env = {
      VIREO_LOCAL_HOST: '1',
      VIREO_LOCAL_AGENT_PORT: String(port),
      VIREO_LOCAL_AGENT_ACCEL: 'tcg',
      VIREO_HOST_HEARTBEAT_MS: '300',
    };
    engine = await startEngine({ dataDir, env });
    client = new VireoClient({ baseUrl: engine.url, ca: engine.caPem });
    await client.login('admin@internal', engine.adminPassword as string);
    const host = await until('the local host to be up', async () => {
      const hosts = (await client.request<Json>('GET', '/hosts')).body.items as Json[];
      return hosts.find((h) => h.state === 'up');
    });
    const dc = ((await client.request<Json>('GET', '/datacenters')).body.items as Json[]).find(
      (d) => d.name === 'Default',
    );
    domains.data = await createDomain('xfer-data', 'data', host.id, dc?.id);
    domains.iso = await createDomain('xfer-iso', 'iso', host.id, dc?.id);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await engine?.stop();
    for (const pid of agentPids(path.join(dataDir, 'local-agent'))) process.kill(pid, 'SIGKILL');
    await removeDataDir(dataDir);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('refuses crafted qcow2 images with a stable code and writes nothing to the domain', async () => {
    const crafted: [string, string, (p: string) => void][] = [
      [
        'backing file /etc/shadow',
        'image_has_backing_file',
        (p) => qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', p, '1M'),
      ],
      [
        'json: backing name',
        'image_json_filename',
        (p) =>
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
      ],
      [
        'a header claiming 1 PiB',
        'image_too_large',
        (p) => {
          qemuImg('create', '-q', '-f', 'qcow2', p, '1M');
          const size = Buffer.alloc(8);
          size.writeBigUInt64BE(1n << 50n);
          const fd = fs.openSync(p, 'r+');
          fs.writeSync(fd, size, 0, 8, 24);
          fs.closeSync(fd);
        },
      ],
    ];
    const root = rootOf(domains.data as Json);
    for (const [what, code, make] of crafted) {
      const file = path.join(work, `crafted-${randomUUID()}.qcow2`);
      make(file);
      const before = listTree(root);
      let created: ImageTransfer | undefined;
      const error = await uploadImage(client, {
        file,
        storageDomainId: domains.data?.id,
        format: 'qcow2',
        diskName: 'crafted',
        onTransfer: (t) => {
          created = t;
        },
      }).catch((e: unknown) => e);
      expect(error, what).toBeInstanceOf(ApiError);
      expect((error as ApiError).code, what).toBe(code);
      expect(listTree(root), what).toEqual(before);
      const t = await getTransfer(client, created?.id as string);
      expect(t).toMatchObject({ state: 'failed', error: { code } });
      // The disk the upload created is gone with it, and the operation failed with the same code.
      const op = await client.waitForOperation(t.operation_id as string, { timeoutMs: 30_000 });
      expect(op).toMatchObject({ state: 'failed', error: { code } });
    }
  }, 120_000);

  it('resumes an interrupted raw upload, verifies its checksum and downloads it back identical', async () => {
    const file = path.join(work, 'disk.raw');
    fs.writeFileSync(file, randomBytes(6 * MiB));
    const sha256 = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const { transfer } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domains.data?.id,
      format: 'raw',
      size_bytes: 6 * MiB,
      disk_name: 'uploaded-raw',
      sha256,
    });
    // Send 2 MiB of a 6 MiB range, then drop the connection.
    const abort = new AbortController();
    const stream = fs.createReadStream(file, { start: 0, end: 2 * MiB - 1 });
    stream.on('end', () => setTimeout(() => abort.abort(), 300));
    const body = (async function* () {
      for await (const chunk of stream) yield chunk as Uint8Array;
      await new Promise((r) => setTimeout(r, 5_000));
    })();
    const broken = await client
      .raw('PUT', `/image-transfers/${transfer.id}/data`, {
        rawBody: body,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `bytes 0-${6 * MiB - 1}/${6 * MiB}`,
          'content-length': String(6 * MiB),
        },
        signal: abort.signal,
        timeoutMs: 0,
      })
      .catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(Error);
    const partial = await until('bytes_done to settle after the interruption', async () => {
      const t = await getTransfer(client, transfer.id);
      return t.bytes_done > 0 ? t : undefined;
    });
    expect(partial.bytes_done).toBeLessThanOrEqual(2 * MiB);
    expect(partial.state).toBe('transferring');

    const progress: number[] = [];
    const done = await uploadImage(client, {
      file,
      resumeId: transfer.id,
      chunkBytes: 2 * MiB,
      onProgress: (n) => progress.push(n),
    });
    expect(progress[0]).toBe(partial.bytes_done);
    expect(done).toMatchObject({ state: 'finished', sha256, bytes_done: 6 * MiB });
    const op = await client.waitForOperation(transfer.operation_id as string, { timeoutMs: 30_000 });
    expect(op).toMatchObject({ state: 'succeeded', progress: 1 });

    const back = path.join(work, 'disk.back');
    const down = await downloadImage(client, { diskId: done.disk_id as string, file: back });
    expect(down.state).toBe('finished');
    expect(createHash('sha256').update(fs.readFileSync(back)).digest('hex')).toBe(sha256);
  }, 120_000);

  it('uploads a qcow2 with resume and an ISO into the ISO domain; a wrong sha256 is refused', async () => {
    const qcow2 = path.join(work, 'disk.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', qcow2, '32M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 3M', qcow2], { stdio: 'ignore' });
    const size = fs.statSync(qcow2).size;
    const sha256 = createHash('sha256').update(fs.readFileSync(qcow2)).digest('hex');
    // The first MiB goes in one request; the rest by the helper resuming the transfer by its id.
    const { transfer: started } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domains.data?.id,
      format: 'qcow2',
      size_bytes: size,
      disk_name: 'uploaded-qcow2',
      sha256,
    });
    const id = started.id;
    const midway = await putChunk(client, { id, file: qcow2, start: 0, end: MiB - 1, total: size });
    expect(midway).toMatchObject({ bytes_done: MiB, state: 'transferring' });
    expect((await getTransfer(client, id)).bytes_done).toBe(MiB);
    // Not where the upload continues: 416 with the offset to use.
    const skipped = await putChunk(client, {
      id,
      file: qcow2,
      start: 2 * MiB,
      end: 3 * MiB - 1,
      total: size,
    }).catch((e: unknown) => e);
    expect(skipped).toMatchObject({
      status: 416,
      code: 'transfer_offset_mismatch',
      details: { bytes_done: MiB },
    });
    const done = await uploadImage(client, { file: qcow2, resumeId: id, chunkBytes: 1 * MiB });
    expect(done).toMatchObject({ state: 'finished', sha256 });
    const disk = (await client.request<Json>('GET', `/disks/${done.disk_id}`)).body;
    expect(disk).toMatchObject({ size_bytes: 32 * MiB, format: 'qcow2', state: 'ok' });
    const back = path.join(work, 'disk.qcow2.back');
    await downloadImage(client, { diskId: done.disk_id as string, file: back });
    expect(fs.readFileSync(back).equals(fs.readFileSync(qcow2))).toBe(true);

    // A wrong checksum: refused at finalize, nothing lands in the ISO domain.
    const iso = path.join(work, 'boot.iso');
    const tree = path.join(work, 'iso-tree');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'hello.txt'), 'vireo\n');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, tree], { stdio: 'ignore' });
    const isoRoot = rootOf(domains.iso as Json);
    const before = listTree(isoRoot);
    const { transfer: wrong } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domains.iso?.id,
      format: 'iso',
      iso_file: 'boot.iso',
      size_bytes: fs.statSync(iso).size,
      sha256: '0'.repeat(64),
    });
    const refused = await uploadImage(client, { file: iso, resumeId: wrong.id }).catch((e: unknown) => e);
    expect((refused as ApiError).code).toBe('checksum_mismatch');
    expect(listTree(isoRoot)).toEqual(before);

    const ok = await uploadImage(client, {
      file: iso,
      storageDomainId: domains.iso?.id,
      format: 'iso',
      isoFile: 'boot.iso',
    });
    expect(ok.state).toBe('finished');
    expect(
      fs.readFileSync(path.join(isoRoot, 'images', 'iso', 'boot.iso')).equals(fs.readFileSync(iso)),
    ).toBe(true);
    // A second upload of the same name is refused up front.
    const again = await uploadImage(client, {
      file: iso,
      storageDomainId: domains.iso?.id,
      format: 'iso',
      isoFile: 'boot.iso',
    }).catch((e: unknown) => e);
    expect((again as ApiError).code).toBe('iso_file_exists');
  }, 120_000);

  it('DELETE cancels an upload: the partial file and the new disk go, the operation ends cancelled', async () => {
    const root = rootOf(domains.data as Json);
    const before = listTree(root);
    const file = path.join(work, 'cancel.raw');
    fs.writeFileSync(file, randomBytes(4 * MiB));
    const { transfer } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domains.data?.id,
      format: 'raw',
      size_bytes: 4 * MiB,
      disk_name: 'to-cancel',
    });
    await putChunk(client, { id: transfer.id, file, start: 0, end: MiB - 1, total: 4 * MiB });
    expect(listTree(root).some((p) => p.startsWith('staging'))).toBe(true);
    const cancelled = (await client.request<ImageTransfer>('DELETE', `/image-transfers/${transfer.id}`)).body;
    expect(cancelled.state).toBe('cancelled');
    expect(listTree(root)).toEqual(before);
    const disk = await client.request('GET', `/disks/${transfer.disk_id}`).catch((e: unknown) => e);
    expect((disk as ApiError).code).toBe('disk_not_found');
    const op = await client.waitForOperation(transfer.operation_id as string, { timeoutMs: 30_000 });
    expect(op.state).toBe('cancelled');
    // A cancelled transfer takes no more data.
    const late = await putChunk(client, {
      id: transfer.id,
      file,
      start: MiB,
      end: 2 * MiB - 1,
      total: 4 * MiB,
    }).catch((e: unknown) => e);
    expect((late as ApiError).code).toBe('transfer_invalid_state');
  }, 60_000);

  it('vireo image upload (new disk, resume by id, refusal) and download', async () => {
    const home = fs.mkdtempSync(path.join(work, 'cli-home-'));
    const cli = (args: string[]) => runCli(args, home, { timeoutMs: 120_000 });
    const login = await loginCli(home, engine as EngineProcess);
    expect(login.code, login.stderr).toBe(0);

    const file = path.join(work, 'cli.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '8M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 0 1M', file], { stdio: 'ignore' });
    const up = await cli([
      'image',
      'upload',
      file,
      '--storage-domain',
      'xfer-data',
      '--disk-name',
      'cli-disk',
      '-o',
      'json',
    ]);
    expect(up.code, up.stderr).toBe(0);
    const uploaded = JSON.parse(up.stdout) as Json;
    expect(uploaded).toMatchObject({ state: 'finished', format: 'qcow2' });
    expect(uploaded.sha256).toBe(createHash('sha256').update(fs.readFileSync(file)).digest('hex'));

    const back = path.join(work, 'cli.back');
    const down = await cli(['image', 'download', 'cli-disk', back, '-o', 'json']);
    expect(down.code, down.stderr).toBe(0);
    expect(fs.readFileSync(back).equals(fs.readFileSync(file))).toBe(true);

    // --resume continues a transfer another client started.
    const raw = path.join(work, 'cli.raw');
    fs.writeFileSync(raw, randomBytes(3 * MiB));
    const { transfer } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domains.data?.id,
      format: 'raw',
      size_bytes: 3 * MiB,
      disk_name: 'cli-resumed',
    });
    await putChunk(client, { id: transfer.id, file: raw, start: 0, end: MiB - 1, total: 3 * MiB });
    const resumed = await cli(['image', 'upload', raw, '--resume', transfer.id, '-o', 'json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      id: transfer.id,
      state: 'finished',
      bytes_done: 3 * MiB,
    });

    // A hostile image: a non-zero exit naming the code.
    const shadow = path.join(work, 'cli-shadow.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', shadow, '1M');
    const refused = await cli(['image', 'upload', shadow, '--storage-domain', 'xfer-data']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('image_has_backing_file');
  }, 180_000);

  it('an upload survives an engine (and local agent) restart and resumes at bytes_done', async () => {
    const file = path.join(work, 'restart.raw');
    fs.writeFileSync(file, randomBytes(4 * MiB));
    const sha256 = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const { transfer } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domains.data?.id,
      format: 'raw',
      size_bytes: 4 * MiB,
      disk_name: 'across-restart',
      sha256,
    });
    await putChunk(client, { id: transfer.id, file, start: 0, end: 2 * MiB - 1, total: 4 * MiB });

    await client.close();
    engine = await (engine as EngineProcess).restart('SIGTERM', { env });
    client = new VireoClient({ baseUrl: engine.url, ca: engine.caPem });
    await client.login('admin@internal', engine.adminPassword as string);
    // The engine re-announces the transfer to the (restarted) agent with a new secret on first use.
    const resumed = await until('the host to be up again and the upload to resume', async () => {
      const hosts = (await client.request<Json>('GET', '/hosts')).body.items as Json[];
      if (!hosts.some((h) => h.state === 'up')) return undefined;
      return uploadImage(client, { file, resumeId: transfer.id }).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 503) return undefined;
        throw e;
      });
    });
    expect(resumed).toMatchObject({ state: 'finished', sha256, bytes_done: 4 * MiB });
    const op = await client.waitForOperation(transfer.operation_id as string, { timeoutMs: 60_000 });
    expect(op.state).toBe('succeeded');
  }, 180_000);
});
