import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import { buildQemuArgv, diskNodeNames } from '../src/qemu/argv';
import type { StorageDomains } from '../src/storage/domains/service';
import { UserspaceNfsImages } from '../src/storage/nfs/images';
import { nfsUrl, UserspaceVolumes } from '../src/storage/nfs/volumes';
import { diskChain, planDiskChains } from '../src/vm/disk-chains';
import {
  type MergeMarker,
  readMarker,
  refusePendingMerges,
  removeMarker,
  writeMarker,
} from '../src/vm/snapshots/marker';
import { ImagePolicy } from '../src/vm/images';
import type { VmRuntime } from '../src/vm/runtime';
import { mergeStatus } from '../src/vm/snapshots';
import { userspaceNfsDomains } from './support/nfs-domains';

/**
 * Backing chains on a userspace-mode nfs domain (ADR 027) against a real NFSv3 server: overlays made
 * through qemu-img's nfs driver with the relative names local domains write, the chain walked over
 * NFS by the agent (crafted chains refused with codes), and every layer opened by a real QEMU as its
 * own nfs node with its own key, as a VM start opens it.
 */

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const ENGINE = randomUUID();
const KEY_T = Buffer.alloc(32, 0x11).toString('base64');
const KEY_V = Buffer.alloc(32, 0x22).toString('base64');

let server: TestNfsServer;
let stateDir: string;
let domains: StorageDomains;
let volumes: UserspaceVolumes;
let policy: ImagePolicy;
let domainId: string;
let root: string;

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code,
  );

beforeAll(async () => {
  server = await startNfsServer('nfssnap');
  stateDir = await mkdtemp(join(tmpdir(), 'vireo-nfs-chains-'));
  policy = new ImagePolicy([]);
  domains = userspaceNfsDomains(stateDir, log, policy);
  policy.remote = new UserspaceNfsImages(domains);
  volumes = new UserspaceVolumes({
    domain: (id) => domains.userspaceDomain(id),
    unavailable: (id, feature) => domains.featureUnavailable(id, feature),
    log,
    secretsDir: join(stateDir, 'secrets'),
  });
  domainId = randomUUID();
  const res = await domains.activate({
    domain: {
      id: domainId,
      name: 'chains',
      kind: 'data',
      backend: 'nfs',
      path: `/run/vireo-agent/storage/${domainId}`,
      nfs_server: server.address,
      nfs_export: server.exportPath,
    },
    engine_id: ENGINE,
    create_metadata: true,
  });
  root = res.root;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** A key file as the agent writes them for QEMU: 0600, the key's base64 text. */
async function keyFile(name: string, key: string): Promise<string> {
  const file = join(stateDir, `${name}.key`);
  await writeFile(file, key, { mode: 0o600 });
  return file;
}

/**
 * Runs QEMU (no machine, no guest) with `args`, sends QMP commands through stdio one at a time and
 * returns their answers and the text lines QEMU printed; QEMU is gone when this returns, whatever happened.
 */
async function qemuQmp(args: string[], commands: object[]): Promise<{ answers: unknown[]; text: string[] }> {
  const qemu = spawn(
    'qemu-system-x86_64',
    ['-M', 'none', '-nodefaults', '-display', 'none', '-accel', 'tcg', ...args, '-qmp', 'stdio'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  const text: string[] = [];
  qemu.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<void>((resolve) => qemu.once('exit', () => resolve()));
  const lines = createInterface({ input: qemu.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`QEMU exited: ${stderr}`);
      // HMP's qemu-io prints its report on QEMU's stdout, between the QMP lines.
      if (!value.startsWith('{')) {
        text.push(value);
        continue;
      }
      const msg = JSON.parse(value) as Record<string, unknown>;
      if ('return' in msg || 'error' in msg || 'QMP' in msg) return msg;
    }
  };
  try {
    await next();
    const answers: unknown[] = [];
    for (const c of [{ execute: 'qmp_capabilities' }, ...commands]) {
      qemu.stdin.write(`${JSON.stringify(c)}\n`);
      answers.push(await next());
    }
    return { answers: answers.slice(1), text };
  } finally {
    qemu.kill('SIGKILL');
    await exited;
  }
}

describe('backing chains on a userspace-mode nfs domain', () => {
  it('thin clone and snapshot overlays: relative names, walked over NFS, each layer its own nfs node and key', async () => {
    const tmplDisk = randomUUID();
    const vmDisk = randomUUID();
    const [base, clone, snap] = [randomUUID(), randomUUID(), randomUUID()] as [string, string, string];
    const MiB = 1024 * 1024;
    await volumes.create(domains.userspaceDomain(domainId) as never, {
      domain_id: domainId,
      disk_id: tmplDisk,
      volume_id: base,
      format: 'qcow2',
      size_bytes: 8 * MiB,
      encryption: { secret: KEY_T },
    });
    // The template's data, written through its own key.
    const keyT = await keyFile('t', KEY_T);
    const baseUrl = new URL(
      nfsUrl({ server: server.address, export: server.exportPath }, `${domainId}/images/${tmplDisk}/${base}`),
    );
    await run('qemu-io', [
      '--object',
      `secret,id=kt,format=raw,file=${keyT}`,
      '--image-opts',
      `driver=qcow2,file.driver=nfs,file.server.type=inet,file.server.host=${server.address},file.path=${baseUrl.pathname},encrypt.key-secret=kt`,
      '-c',
      'write -P 0x5a 0 1M',
    ]);

    const u = domains.userspaceDomain(domainId) as NonNullable<ReturnType<StorageDomains['userspaceDomain']>>;
    const cloned = await volumes.create(u, {
      domain_id: domainId,
      disk_id: vmDisk,
      volume_id: clone,
      format: 'qcow2',
      backing: { disk_id: tmplDisk, volume_id: base, format: 'qcow2' },
      encryption: { secret: KEY_V },
    });
    expect(cloned).toMatchObject({ backing: `../${tmplDisk}/${base}`, virtual_size: 8 * MiB });
    const snapped = await volumes.create(u, {
      domain_id: domainId,
      disk_id: vmDisk,
      volume_id: snap,
      format: 'qcow2',
      backing: { disk_id: vmDisk, volume_id: clone, format: 'qcow2' },
      encryption: { secret: KEY_V },
    });
    expect(snapped).toMatchObject({
      backing: clone,
      virtual_size: 8 * MiB,
      path: `${root}/images/${vmDisk}/${snap}`,
    });
    // The keys went through 0600 files that are gone.
    expect(await readdir(join(stateDir, 'secrets')).catch(() => [])).toEqual([]);

    const at = (disk: string, vol: string) => `${root}/images/${disk}/${vol}`;
    const disk: VmDisk = {
      id: 'd0',
      path: at(vmDisk, snap),
      format: 'qcow2',
      interface: 'virtio',
      bootable: true,
      readonly: false,
      encryption_secret_id: 'kv',
      base_encryption_secret_id: 'kt',
    };
    expect(await diskChain(policy, disk, '/disks/0/path')).toEqual([
      { path: at(vmDisk, snap), format: 'qcow2', secretId: 'kv', writable: true },
      { path: at(vmDisk, clone), format: 'qcow2', secretId: 'kv', writable: true },
      { path: at(tmplDisk, base), format: 'qcow2', secretId: 'kt', writable: false },
    ]);
    // The template's key where the clone's belongs: refused before QEMU sees anything.
    expect(
      await code(
        diskChain(
          policy,
          { ...disk, encryption_secret_id: 'kt', base_encryption_secret_id: undefined },
          '/d',
        ),
      ),
    ).toBe('image_invalid');

    // As a VM start builds it: the chain from the policy, each layer mapped onto the export.
    const spec = {
      id: randomUUID(),
      name: 'nfs-chain',
      machine: 'q35',
      cpu: { model: 'qemu64', sockets: 1, cores: 1, threads: 1 },
      memory_mib: 64,
      disks: [disk],
      boot_order: ['disk'],
      nics: [],
      display: { vnc: false },
      serial: false,
    } as VmSpec;
    const diskChains = await planDiskChains(policy, spec);
    const nfsImages = (policy.remote as UserspaceNfsImages).nfsImagesOf(spec, diskChains);
    expect(Object.keys(nfsImages).sort()).toEqual(
      [at(vmDisk, snap), at(vmDisk, clone), at(tmplDisk, base)].sort(),
    );
    const argv = buildQemuArgv({
      spec,
      accel: 'tcg',
      sandbox: false,
      paths: { qmpSocket: '/r/q', serialSocket: '/r/s', serialLog: '/r/l', pidfile: '/r/p' },
      secretFiles: { kv: await keyFile('v', KEY_V), kt: keyT },
      diskChains,
      nfsImages,
    });
    const blockArgs = argv.flatMap((a, i) =>
      a === '-blockdev' || (a === '-object' && argv[i + 1]?.startsWith('secret,'))
        ? [a, argv[i + 1] as string]
        : [],
    );
    expect(blockArgs.filter((a) => a.includes('"driver":"nfs"'))).toHaveLength(3);
    const top = diskNodeNames('d0').format;
    const hmp = (line: string) => ({ execute: 'human-monitor-command', arguments: { 'command-line': line } });
    const { answers, text } = await qemuQmp(blockArgs, [
      hmp(`qemu-io ${top} "read -P 0x5a 0 1M"`),
      hmp(`qemu-io ${top} "write -P 0x33 1M 64k"`),
      hmp(`qemu-io ${top} "read -P 0x33 1M 64k"`),
      { execute: 'query-named-block-nodes', arguments: { flat: true } },
    ]);
    // The template's bytes read through both overlays, a write lands in the top (two keys, three files).
    const report = [
      ...text,
      ...answers.slice(0, 3).map((a) => String((a as { return: unknown }).return)),
    ].join('\n');
    expect(report).not.toMatch(/Pattern verification failed|error|failed/i);
    expect(report.match(/read 1048576\/1048576 bytes/g)).toHaveLength(1);
    expect(report.match(/wrote 65536\/65536 bytes/g)).toHaveLength(1);
    expect(report.match(/read 65536\/65536 bytes/g)).toHaveLength(1);
    const nodes = (answers[3] as { return: { drv: string; file: string }[] }).return;
    expect(nodes.filter((n) => n.drv === 'nfs')).toHaveLength(3);
    // What QEMU calls each layer maps back onto the volume path (snapshots and merges find nodes so).
    const remote = policy.remote as UserspaceNfsImages;
    expect(
      nodes
        .filter((n) => n.drv === 'qcow2')
        .map((n) => remote.localPathOf(n.file))
        .sort(),
    ).toEqual([at(vmDisk, snap), at(vmDisk, clone), at(tmplDisk, base)].sort());
  }, 300_000);

  it('refuses crafted chains with codes: absolute, json:, outside the layout, missing, a link, wrong format, too deep', async () => {
    const disk = randomUUID();
    const dir = join(server.dir, domainId, 'images', disk);
    await mkdir(dir, { recursive: true });
    const at = (vol: string) => `${root}/images/${disk}/${vol}`;
    const plain = randomUUID();
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, plain), '1M']);
    const overlay = async (backing: string, format?: string): Promise<string> => {
      const vol = randomUUID();
      const fmt = format ? ['-F', format] : [];
      await run('qemu-img', [
        'create',
        '-q',
        '-f',
        'qcow2',
        '-u',
        '-b',
        backing,
        ...fmt,
        join(dir, vol),
        '1M',
      ]);
      return vol;
    };
    const check = async (vol: string) => code(policy.checkChain(at(vol), 'qcow2', '/disks/0/path'));

    expect(await check(await overlay(plain, 'qcow2'))).toBe('ok');
    expect(await check(await overlay('/etc/passwd', 'raw'))).toBe('image_invalid');
    expect(await check(await overlay(join(dir, plain), 'qcow2'))).toBe('image_invalid');
    expect(await check(await overlay('json:{"driver":"file","filename":"/etc/passwd"}', 'raw'))).toBe(
      'image_invalid',
    );
    expect(await check(await overlay(`nfs://${server.address}/vireo/x`, 'raw'))).toBe('image_invalid');
    expect(await check(await overlay('../../dom_md/metadata.json', 'raw'))).toBe('path_not_allowed');
    expect(await check(await overlay(`../../../${randomUUID()}/images/${disk}/${plain}`, 'qcow2'))).toBe(
      'path_not_allowed',
    );
    expect(await check(await overlay(`../iso/${plain}`, 'qcow2'))).toBe('path_not_allowed');
    expect(await check(await overlay(randomUUID(), 'qcow2'))).toBe('image_not_found');
    const link = randomUUID();
    await symlink(join(dir, plain), join(dir, link));
    expect(await check(await overlay(link, 'qcow2'))).toBe('image_invalid');
    // The child says raw, the file is a qcow2 (QEMU would expose its header to the guest).
    expect(await check(await overlay(plain, 'raw'))).toBe('image_invalid');
    // 17 layers below the top: one too many.
    let below: string = plain;
    for (let i = 0; i < 16; i++) below = await overlay(below, 'qcow2');
    expect(await check(below)).toBe('ok');
    expect(await check(await overlay(below, 'qcow2'))).toBe('image_invalid');
  }, 120_000);
  it('keeps a merge marker on the export: written atomically over NFS, read back, and a start refused while it is there', async () => {
    const remote = policy.remote as UserspaceNfsImages;
    const disk = randomUUID();
    const [top, base] = [randomUUID(), randomUUID()];
    await mkdir(join(server.dir, domainId, 'images', disk), { recursive: true });
    const dir = `${root}/images/${disk}`;
    const files = remote.diskFiles(dir);
    expect(await readMarker(dir, files)).toBeUndefined();
    const marker: MergeMarker = {
      version: 1,
      kind: 'live',
      vm_id: randomUUID(),
      disk_id: 'd0',
      top,
      base,
      child: null,
      phase: 'started',
      job_id: 'merge-test',
      started_at: new Date().toISOString(),
    };
    await writeMarker(dir, marker, files);
    const onServer = join(server.dir, domainId, 'images', disk, 'merge.json');
    expect(JSON.parse(await readFile(onServer, 'utf8'))).toEqual(marker);
    expect((await stat(onServer)).mode & 0o777).toBe(0o600);
    expect(await readMarker(dir, files)).toEqual(marker);
    // merge.status reads it over NFS too (a volume of the directory must exist).
    await writeFile(join(server.dir, domainId, 'images', disk, top), Buffer.alloc(512));
    const rt = { images: policy } as unknown as VmRuntime;
    expect(await mergeStatus(rt, { volume_path: `${dir}/${top}` })).toEqual({
      pending: {
        top_path: `${dir}/${top}`,
        base_path: `${dir}/${base}`,
        phase: 'started',
        vm_id: marker.vm_id,
      },
    });
    const spec = { disks: [{ id: 'd0', path: `${dir}/${top}`, readonly: false }] } as VmSpec;
    await expect(refusePendingMerges(spec, remote)).rejects.toMatchObject({ code: 'merge_pending' });
    await writeMarker(dir, { ...marker, phase: 'committed' }, files);
    expect((await readMarker(dir, files))?.phase).toBe('committed');
    // No temporary file left beside it.
    expect((await readdir(join(server.dir, domainId, 'images', disk))).sort()).toEqual(
      ['merge.json', top].sort(),
    );
    await removeMarker(dir, files);
    expect(await mergeStatus(rt, { volume_path: `${dir}/${top}` })).toEqual({ pending: null });
    await expect(refusePendingMerges(spec, remote)).resolves.toBeUndefined();
    // Names outside the disk directory are refused before anything is sent.
    expect(() => remote.diskFiles(`${root}/images/../dom_md`)).toThrow();
  }, 60_000);
});
