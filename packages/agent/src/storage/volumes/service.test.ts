import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDomains, type TestDomains } from '../../../test/support/storage-domains';
import { imageInfo } from '../qemu-img';
import { VolumeService } from './service';

const MiB = 1024 ** 2;

/** Writes `bytes` of non-zero data (qemu-img skips zeroes, which would make copies instant). */
async function writePattern(path: string, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(4 * MiB, 'vireo-disks-');
  const out = createWriteStream(path);
  for (let done = 0; done < bytes; done += chunk.length) {
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

describe('VolumeService on real files', () => {
  let base: string;
  const domA = randomUUID();
  const domB = randomUUID();
  let domains: TestDomains;
  let roots: Map<string, string>;
  let volumes: VolumeService;

  beforeAll(async () => {
    domains = await createTestDomains('vireo-volumes-', [domA, domB], (dir, id) =>
      join(dir, id.slice(0, 4), id),
    );
    ({ base, roots } = domains);
    volumes = new VolumeService(domains.resolveRoot, domains.emit, pino({ level: 'silent' }));
  });

  afterAll(async () => {
    await domains?.remove();
  });

  const ids = () => ({ disk_id: randomUUID(), volume_id: randomUUID() });

  it('creates a thin qcow2 and a preallocated raw volume in <root>/images/<disk>/<volume>', async () => {
    const q = ids();
    const info = await volumes.create({ domain_id: domA, ...q, format: 'qcow2', size_bytes: 1024 * MiB });
    expect(info.path).toBe(join(roots.get(domA) as string, 'images', q.disk_id, q.volume_id));
    expect(info.virtual_size).toBe(1024 * MiB);
    expect(info.actual_size).toBeLessThan(2 * MiB);
    expect((await imageInfo(info.path, { format: 'qcow2' })).format).toBe('qcow2');

    const r = ids();
    const raw = await volumes.create({
      domain_id: domA,
      ...r,
      format: 'raw',
      size_bytes: 32 * MiB,
      preallocation: 'falloc',
    });
    expect(raw.virtual_size).toBe(32 * MiB);
    expect(raw.actual_size).toBeGreaterThanOrEqual(32 * MiB);

    await expect(
      volumes.create({ domain_id: domA, ...q, format: 'qcow2', size_bytes: MiB }),
    ).rejects.toMatchObject({ code: 'image_exists' });
    await expect(
      volumes.create({
        domain_id: domA,
        ...ids(),
        format: 'raw',
        size_bytes: MiB,
        preallocation: 'metadata',
      }),
    ).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(
      volumes.create({ domain_id: randomUUID(), ...ids(), format: 'qcow2', size_bytes: MiB }),
    ).rejects.toThrow(/not active/);
  });

  it('creates an overlay whose backing file is relative to its directory', async () => {
    const baseVol = ids();
    await volumes.create({ domain_id: domA, ...baseVol, format: 'qcow2', size_bytes: 64 * MiB });
    const top = { disk_id: baseVol.disk_id, volume_id: randomUUID() };
    const info = await volumes.create({
      domain_id: domA,
      ...top,
      format: 'qcow2',
      backing: { ...baseVol, format: 'qcow2' },
    });
    expect(info.backing).toBe(baseVol.volume_id);
    expect(info.virtual_size).toBe(64 * MiB);
    const clone = ids();
    const cloned = await volumes.create({
      domain_id: domA,
      ...clone,
      format: 'qcow2',
      backing: { ...baseVol, format: 'qcow2' },
    });
    expect(cloned.backing).toBe(`../${baseVol.disk_id}/${baseVol.volume_id}`);
  });

  it('grows a volume offline and refuses to shrink it', async () => {
    const v = ids();
    await volumes.create({ domain_id: domA, ...v, format: 'qcow2', size_bytes: 64 * MiB });
    const grown = await volumes.resize({ domain_id: domA, ...v, format: 'qcow2', size_bytes: 128 * MiB });
    expect(grown.virtual_size).toBe(128 * MiB);
    expect((await volumes.info({ domain_id: domA, ...v, format: 'qcow2' })).virtual_size).toBe(128 * MiB);
    await expect(
      volumes.resize({ domain_id: domA, ...v, format: 'qcow2', size_bytes: 64 * MiB }),
    ).rejects.toMatchObject({ code: 'invalid_params' });
  });

  it('deletes one volume, a whole disk, and never follows a planted symlink out of the domain', async () => {
    const v = ids();
    const info = await volumes.create({ domain_id: domA, ...v, format: 'raw', size_bytes: MiB });
    expect(await volumes.delete({ domain_id: domA, ...v })).toEqual({ deleted: true });
    await expect(stat(info.path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await volumes.delete({ domain_id: domA, ...v })).toEqual({ deleted: false });

    const w = ids();
    await volumes.create({ domain_id: domA, ...w, format: 'qcow2', size_bytes: MiB });
    await volumes.create({
      domain_id: domA,
      disk_id: w.disk_id,
      volume_id: randomUUID(),
      format: 'qcow2',
      size_bytes: MiB,
    });
    expect(await volumes.delete({ domain_id: domA, disk_id: w.disk_id })).toEqual({ deleted: true });
    await expect(stat(join(roots.get(domA) as string, 'images', w.disk_id))).rejects.toMatchObject({
      code: 'ENOENT',
    });

    // A disk directory that is a symlink to a directory outside the domain (holding a victim file).
    const outside = join(base, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'victim'), 'keep me');
    const evil = randomUUID();
    await symlink(outside, join(roots.get(domA) as string, 'images', evil));
    await expect(volumes.delete({ domain_id: domA, disk_id: evil })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(
      volumes.info({ domain_id: domA, disk_id: evil, volume_id: randomUUID(), format: 'raw' }),
    ).rejects.toMatchObject({ code: 'path_not_allowed' });
    expect(await readdir(outside)).toEqual(['victim']);

    // A volume file that is a symlink to a host file.
    const d = randomUUID();
    const victim = join(outside, 'victim');
    await mkdir(join(roots.get(domA) as string, 'images', d));
    const vol = randomUUID();
    await symlink(victim, join(roots.get(domA) as string, 'images', d, vol));
    await expect(volumes.delete({ domain_id: domA, disk_id: d, volume_id: vol })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await readdir(outside)).toEqual(['victim']);
  });

  describe('copy', () => {
    const src = ids();
    beforeAll(async () => {
      const dir = join(roots.get(domA) as string, 'images', src.disk_id);
      await mkdir(dir);
      await writePattern(join(dir, src.volume_id), 256 * MiB);
    });

    it('copies to another domain and format with job.progress events', async () => {
      const job = randomUUID();
      const to = ids();
      const info = await volumes.copy({
        job_id: job,
        from: { domain_id: domA, ...src, format: 'raw' },
        to: { domain_id: domB, ...to, format: 'qcow2' },
      });
      expect(info.path).toBe(join(roots.get(domB) as string, 'images', to.disk_id, to.volume_id));
      expect(info.virtual_size).toBe(256 * MiB);
      const mine = domains.progress.filter((e) => e.job_id === job);
      const running = mine.filter((e) => e.state === 'running');
      expect(running.length).toBeGreaterThan(0);
      expect(running.map((e) => e.progress)).toEqual(
        [...running.map((e) => e.progress)].sort((a, b) => a - b),
      );
      expect(mine.at(-1)).toMatchObject({ state: 'succeeded', progress: 1, kind: 'volume.copy' });
      await expect(
        volumes.copy({
          job_id: randomUUID(),
          from: { domain_id: domA, ...src, format: 'raw' },
          to: { domain_id: domB, ...to, format: 'qcow2' },
        }),
      ).rejects.toMatchObject({ code: 'image_exists' });
    });

    it('is cancellable and removes the partial target', async () => {
      const job = randomUUID();
      const to = ids();
      const copying = volumes.copy({
        job_id: job,
        from: { domain_id: domA, ...src, format: 'raw' },
        to: { domain_id: domB, ...to, format: 'raw' },
        preallocation: 'full',
      });
      const outcome = copying.then(
        () => 'finished',
        (err: { code?: string }) => err.code,
      );
      // Cancel once qemu-img runs (the job is registered synchronously after the checks).
      for (let i = 0; i < 2000 && !volumes.cancel(job).cancelled; i++)
        await new Promise((r) => setTimeout(r, 5));
      expect(await outcome).toBe('action_cancelled');
      await expect(stat(join(roots.get(domB) as string, 'images', to.disk_id))).rejects.toMatchObject({
        code: 'ENOENT',
      });
      expect(domains.progress.filter((e) => e.job_id === job).at(-1)).toMatchObject({ state: 'failed' });
      expect(volumes.cancel(job)).toEqual({ cancelled: false });
    });
  });
});
