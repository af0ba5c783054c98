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
import { nfsColdMerge, type NfsColdMergeDeps } from '../src/storage/nfs/cold-merge';
import { UserspaceNfsImages } from '../src/storage/nfs/images';
import { retryLuksBenchmark } from '../src/storage/qemu-img';
import type { VmRuntime } from '../src/vm/runtime';
import { mergeVolume } from '../src/vm/snapshots';
import { nfsDomainRef, userspaceNfsDomains } from './support/nfs-domains';

/**
 * `volume.merge` on a userspace-mode nfs domain (ADR 027 decision 16) against nfs-ganesha: a
 * guestless QEMU commits a middle layer (the child's header then names the base) and a top layer
 * over NFS, the marker kept over NFS and gone afterwards, the merged volume removed; a merge that
 * stopped after its commit is finished from its marker.
 */

const run = promisify(execFile);
const log = pino({ level: 'silent' });
let nfs: TestNfsServer;
let stateDir: string;
let domains: StorageDomains;
let remote: UserspaceNfsImages;
let data: StorageDomainRef;
let root: string;
const events: Array<{ job: string; state: string }> = [];

beforeAll(async () => {
  nfs = await startNfsServer('nfscm');
  stateDir = await mkdtemp(join(tmpdir(), 'vireo-nfs-cm-'));
  domains = userspaceNfsDomains(stateDir, log);
  remote = new UserspaceNfsImages(domains);
  data = nfsDomainRef(nfs, 'data');
  root = (await domains.activate({ domain: data, engine_id: randomUUID(), create_metadata: true })).root;
}, 120_000);

afterAll(async () => {
  await nfs?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const deps = (): NfsColdMergeDeps => ({
  remote,
  log,
  progress: (job, state) => {
    events.push({ job, state });
  },
  refuseIfRunning: async () => undefined,
});

const qimg = (...args: string[]) => run('qemu-img', args);
const io = (file: string, cmd: string) => run('qemu-io', ['-f', 'qcow2', '-c', cmd, file]);

/** A disk directory on the export with `base` (0x11 over 0–3 MiB) and overlays on it, each with its own bytes. */
async function chain(
  overlays: Array<[number, string]>,
): Promise<{ disk: string; dir: string; vols: string[] }> {
  const disk = randomUUID();
  const dir = join(nfs.dir, data.id, 'images', disk);
  await mkdir(dir);
  const vols = [randomUUID()];
  await qimg('create', '-q', '-f', 'qcow2', join(dir, vols[0] as string), '8M');
  await io(join(dir, vols[0] as string), 'write -P 0x11 0 3M');
  for (const [pattern, at] of overlays) {
    const v = randomUUID();
    await qimg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      vols[vols.length - 1] as string,
      '-F',
      'qcow2',
      join(dir, v),
    );
    await io(join(dir, v), `write -P ${pattern} ${at} 1M`);
    vols.push(v);
  }
  return { disk, dir, vols };
}

async function reads(file: string, expected: Array<[number, string]>): Promise<void> {
  for (const [pattern, at] of expected) {
    const { stdout } = await io(file, `read -P ${pattern} ${at} 1M`);
    expect(stdout).not.toMatch(/Pattern verification failed/);
    expect(stdout).toMatch(/read 1048576\/1048576 bytes/);
  }
}

async function clean(file: string): Promise<void> {
  const { stdout } = await qimg('check', '--output=json', '-f', 'qcow2', file);
  const r = JSON.parse(stdout) as Record<string, unknown>;
  expect(r['check-errors'] ?? 0).toBe(0);
  expect(r.corruptions ?? 0).toBe(0);
  expect(r.leaks ?? 0).toBe(0);
}

async function backingOf(file: string): Promise<string | undefined> {
  const { stdout } = await qimg('info', '--output=json', '-U', file);
  return (JSON.parse(stdout) as { 'backing-filename'?: string })['backing-filename'];
}

const KEY = Buffer.alloc(32, 0x2a).toString('base64');

/** An encrypted chain (one key, as a disk's own volumes): LUKS base (0x11 over 0–3 MiB) and overlays. */
async function encryptedChain(
  overlays: Array<[number, string]>,
): Promise<{ disk: string; dir: string; vols: string[]; opts: (v: string, depth?: number) => string[] }> {
  const disk = randomUUID();
  const dir = join(nfs.dir, data.id, 'images', disk);
  await mkdir(dir);
  const keyFile = join(stateDir, `${disk}.key`);
  await writeFile(keyFile, KEY, { mode: 0o600 });
  const secret = ['--object', `secret,id=k,format=raw,file=${keyFile}`];
  // Every layer below `v` needs the key too: `backing.encrypt…`, `backing.backing.encrypt…`.
  const opts = (v: string, depth = 0) => [
    ...secret,
    '--image-opts',
    [
      `driver=qcow2,file.driver=file,file.filename=${join(dir, v)}`,
      ...Array.from({ length: depth + 1 }, (_, i) => `${'backing.'.repeat(i)}encrypt.key-secret=k`),
    ].join(','),
  ];
  const create = (file: string, backing?: string) =>
    retryLuksBenchmark(
      () =>
        qimg(
          'create',
          '-q',
          ...secret,
          '-f',
          'qcow2',
          '-o',
          'encrypt.format=luks,encrypt.key-secret=k,encrypt.iter-time=10',
          ...(backing ? ['-b', backing, '-F', 'qcow2'] : []),
          file,
          ...(backing ? [] : ['8M']),
        ),
      () => rm(file, { force: true }),
    );
  const vols = [randomUUID()];
  await create(join(dir, vols[0] as string));
  await run('qemu-io', [...opts(vols[0] as string), '-c', 'write -P 0x11 0 3M']);
  for (const [pattern, at] of overlays) {
    const v = randomUUID();
    await create(join(dir, v), vols[vols.length - 1] as string);
    await run('qemu-io', [...opts(v, vols.length), '-c', `write -P ${pattern} ${at} 1M`]);
    vols.push(v);
  }
  return { disk, dir, vols, opts };
}

describe('cold merge on a userspace-mode nfs domain', () => {
  it('merges a middle layer: the child then names the base, bytes unchanged, marker gone', async () => {
    const { disk, dir, vols } = await chain([
      [0x22, '1M'],
      [0x33, '2M'],
    ]);
    const [base, mid, top] = vols as [string, string, string];
    const at = (v: string) => `${root}/images/${disk}/${v}`;
    const res = await nfsColdMerge(deps(), { top_path: at(mid), base_path: at(base), job_id: 'cm-mid' });
    expect(res).toEqual({
      base_path: at(base),
      removed_path: at(mid),
      rebased_path: at(top),
      already_done: false,
    });
    expect((await readdir(dir)).sort()).toEqual([base, top].sort());
    expect(await backingOf(join(dir, top))).toBe(base);
    await reads(join(dir, top), [
      [0x11, '0'],
      [0x22, '1M'],
      [0x33, '2M'],
    ]);
    await clean(join(dir, base));
    await clean(join(dir, top));
    // The agent's own walk over NFS agrees: two layers.
    expect((await remote.checkChain(at(top), 'qcow2', '/p')).map((l) => l.path)).toEqual([at(top), at(base)]);
    expect(events.filter((e) => e.job === 'cm-mid').at(-1)?.state).toBe('succeeded');
  }, 300_000);

  it('merges the top layer into its base, bytes unchanged, marker gone', async () => {
    const { disk, dir, vols } = await chain([[0x44, '1M']]);
    const [base, top] = vols as [string, string];
    const at = (v: string) => `${root}/images/${disk}/${v}`;
    const res = await nfsColdMerge(deps(), { top_path: at(top), base_path: at(base), job_id: 'cm-top' });
    expect(res).toEqual({
      base_path: at(base),
      removed_path: at(top),
      rebased_path: null,
      already_done: false,
    });
    expect(await readdir(dir)).toEqual([base]);
    await reads(join(dir, base), [
      [0x11, '0'],
      [0x44, '1M'],
      [0x11, '2M'],
    ]);
    await clean(join(dir, base));
    expect(events.filter((e) => e.job === 'cm-top').at(-1)?.state).toBe('succeeded');
  }, 300_000);

  it('finishes a merge that stopped after its commit from the marker; refuses another pair while it is pending', async () => {
    const { disk, dir, vols } = await chain([[0x55, '1M']]);
    const [base, top] = vols as [string, string];
    const at = (v: string) => `${root}/images/${disk}/${v}`;
    await writeFile(
      join(dir, 'merge.json'),
      JSON.stringify({
        version: 1,
        kind: 'cold',
        vm_id: null,
        disk_id: null,
        top,
        base,
        child: null,
        phase: 'committed',
        job_id: 'cm-old',
        started_at: new Date().toISOString(),
      }),
    );
    const other = randomUUID();
    await expect(nfsColdMerge(deps(), { top_path: at(other), base_path: at(base) })).rejects.toMatchObject({
      code: 'merge_pending',
    });
    const res = await nfsColdMerge(deps(), { top_path: at(top), base_path: at(base) });
    expect(res).toMatchObject({ removed_path: at(top), already_done: true });
    expect(await readdir(dir)).toEqual([base]);
  }, 300_000);

  it('merges an encrypted middle layer with the disk key by QMP; without the key it is refused', async () => {
    const { disk, dir, vols, opts } = await encryptedChain([
      [0x66, '1M'],
      [0x77, '2M'],
    ]);
    const [base, mid, top] = vols as [string, string, string];
    const at = (v: string) => `${root}/images/${disk}/${v}`;
    await expect(nfsColdMerge(deps(), { top_path: at(mid), base_path: at(base) })).rejects.toMatchObject({
      code: 'invalid_params',
    });
    // The refusal left its marker: the retry with the key finishes the same merge.
    const res = await nfsColdMerge(deps(), {
      top_path: at(mid),
      base_path: at(base),
      encryption: { secret: KEY },
    });
    expect(res).toMatchObject({ removed_path: at(mid), rebased_path: at(top) });
    expect((await readdir(dir)).filter((n) => !n.endsWith('.key')).sort()).toEqual([base, top].sort());
    expect(await backingOf(join(dir, top))).toBe(base);
    for (const [pattern, off] of [
      [0x11, '0'],
      [0x66, '1M'],
      [0x77, '2M'],
    ] as const) {
      const { stdout } = await run('qemu-io', [...opts(top, 1), '-c', `read -P ${pattern} ${off} 1M`]);
      expect(stdout).not.toMatch(/Pattern verification failed/);
      expect(stdout).toMatch(/read 1048576\/1048576 bytes/);
    }
    for (const v of [base, top]) {
      const { stdout } = await qimg('check', '--output=json', ...opts(v, v === top ? 1 : 0));
      const r = JSON.parse(stdout) as Record<string, unknown>;
      expect(r['check-errors'] ?? 0).toBe(0);
      expect(r.corruptions ?? 0).toBe(0);
    }
  }, 300_000);

  it('volume.merge reaches it for an nfs disk, and refuses while a VM runs on the disk', async () => {
    const { disk, dir, vols } = await chain([[0x58, '2M']]);
    const [base, top] = vols as [string, string];
    const at = (v: string) => `${root}/images/${disk}/${v}`;
    const emitted: Array<{ job_id: string; state: string }> = [];
    const vms = new Map<string, unknown>();
    const rt = {
      images: { remote },
      log,
      vms,
      emit: (_name: string, e: { job_id: string; state: string }) => emitted.push(e),
    } as unknown as VmRuntime;
    vms.set('v1', { id: 'v1', name: 'running', state: 'up', spec: { disks: [{ path: at(top) }] } });
    await expect(mergeVolume(rt, { top_path: at(top), base_path: at(base) })).rejects.toMatchObject({
      code: 'invalid_vm_state',
    });
    expect((await readdir(dir)).sort()).toEqual([base, top].sort());
    vms.clear();
    const res = await mergeVolume(rt, { top_path: at(top), base_path: at(base), job_id: 'cm-rpc' });
    expect(res).toEqual({
      base_path: at(base),
      removed_path: at(top),
      rebased_path: null,
      already_done: false,
    });
    expect(await readdir(dir)).toEqual([base]);
    await reads(join(dir, base), [
      [0x11, '0'],
      [0x58, '2M'],
    ]);
    await clean(join(dir, base));
    expect(
      emitted
        .filter((e) => e.job_id === 'cm-rpc')
        .map((e) => e.state)
        .at(-1),
    ).toBe('succeeded');
  }, 300_000);

  it('a middle merge whose child already names the base (crash before the marker said committed) finishes without a second commit', async () => {
    const { disk, dir, vols } = await chain([
      [0x22, '1M'],
      [0x33, '2M'],
    ]);
    const [base, mid, top] = vols as [string, string, string];
    const at = (v: string) => `${root}/images/${disk}/${v}`;
    // What QEMU leaves when the commit concluded: data in base, the child naming base.
    await qimg('commit', '-q', '-f', 'qcow2', '-d', join(dir, mid));
    await qimg('rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'qcow2', join(dir, top));
    await writeFile(
      join(dir, 'merge.json'),
      JSON.stringify({
        version: 1,
        kind: 'cold',
        vm_id: null,
        disk_id: null,
        top: mid,
        base,
        child: top,
        phase: 'started',
        job_id: 'cm-crash',
        started_at: new Date().toISOString(),
      }),
    );
    const res = await nfsColdMerge(deps(), { top_path: at(mid), base_path: at(base) });
    expect(res).toEqual({
      base_path: at(base),
      removed_path: at(mid),
      rebased_path: at(top),
      already_done: false,
    });
    expect((await readdir(dir)).sort()).toEqual([base, top].sort());
    await reads(join(dir, top), [
      [0x11, '0'],
      [0x22, '1M'],
      [0x33, '2M'],
    ]);
    await clean(join(dir, base));
  }, 300_000);
});
