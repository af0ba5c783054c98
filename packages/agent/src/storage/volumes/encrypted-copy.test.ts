import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDomains, type TestDomains } from '../../../test/support/storage-domains';
import { imageInfo } from '../qemu-img';
import { verifyVolumeKey } from './encryption';
import { VolumeService } from './service';

const run = promisify(execFile);
const MiB = 1024 ** 2;

/** Copies and thin overlays of LUKS-in-qcow2 volumes, with real qemu-img and qemu-io. */
describe('VolumeService with encrypted volumes', () => {
  const domA = randomUUID();
  const domB = randomUUID();
  let domains: TestDomains;
  let volumes: VolumeService;
  let keyDir: string;
  const key = () => randomBytes(32).toString('base64');

  beforeAll(async () => {
    domains = await createTestDomains('vireo-enc-copy-', [domA, domB, 'keys']);
    keyDir = domains.roots.get('keys') as string;
    volumes = new VolumeService(
      domains.resolveRoot,
      domains.emit,
      pino({ level: 'silent' }),
      join(domains.base, 'secrets'),
    );
  });

  afterAll(async () => {
    await domains?.remove();
  });

  /** Runs qemu-io commands on an (encrypted) qcow2 chain; `layers` are the keys from the top down. */
  async function qemuIo(path: string, layers: (string | null)[], commands: string[]): Promise<string> {
    const args: string[] = [];
    const opts = ['driver=qcow2', 'file.driver=file', `file.filename=${path}`];
    for (const [depth, k] of layers.entries()) {
      if (!k) continue;
      const file = join(keyDir, `${randomUUID()}.key`);
      await writeFile(file, k, { mode: 0o600 });
      args.push('--object', `secret,id=s${depth},format=raw,file=${file}`);
      opts.push(`${'backing.'.repeat(depth)}encrypt.key-secret=s${depth}`);
    }
    args.push('--image-opts', opts.join(','));
    for (const c of commands) args.push('-c', c);
    const { stdout } = await run('qemu-io', args);
    if (/fail|error|Pattern verification/i.test(stdout)) throw new Error(`qemu-io: ${stdout}`);
    return stdout;
  }

  /** Writes a text marker (repeated to fill `len` bytes) at `offset` through the chain. */
  async function writeMarker(path: string, layers: (string | null)[], marker: string, offset: number) {
    const file = join(keyDir, `${randomUUID()}.pattern`);
    await writeFile(file, marker.repeat(Math.ceil(MiB / marker.length)).slice(0, MiB));
    await qemuIo(path, layers, [`write -s ${file} ${offset} ${MiB}`]);
  }

  /** Tells whether the chain, opened with `layers`' keys, holds `marker` (decrypted to a raw file). */
  async function holdsMarker(path: string, layers: (string | null)[], marker: string) {
    const args: string[] = ['convert', '-O', 'raw'];
    const opts = ['driver=qcow2', 'file.driver=file', `file.filename=${path}`];
    for (const [depth, k] of layers.entries()) {
      if (!k) continue;
      const file = join(keyDir, `${randomUUID()}.key`);
      await writeFile(file, k, { mode: 0o600 });
      args.push('--object', `secret,id=s${depth},format=raw,file=${file}`);
      opts.push(`${'backing.'.repeat(depth)}encrypt.key-secret=s${depth}`);
    }
    const out = join(keyDir, `${randomUUID()}.raw`);
    await run('qemu-img', [...args, '--image-opts', opts.join(','), out]);
    try {
      return (await readFile(out)).includes(marker);
    } finally {
      await rm(out, { force: true });
    }
  }

  const plainHas = async (path: string, marker: string) => (await readFile(path)).includes(marker);

  async function encryptedVolume(domain: string, k: string) {
    const ids = { disk_id: randomUUID(), volume_id: randomUUID() };
    const info = await volumes.create({
      domain_id: domain,
      ...ids,
      format: 'qcow2',
      size_bytes: 16 * MiB,
      encryption: { secret: k },
    });
    return { ...ids, path: info.path };
  }

  it('copies an encrypted volume to another domain under a new key, never in plaintext', async () => {
    const oldKey = key();
    const newKey = key();
    const marker = 'VIREO-ENC-COPY-MARKER-1 ';
    const src = await encryptedVolume(domA, oldKey);
    await writeMarker(src.path, [oldKey], marker, 2 * MiB);
    expect(await plainHas(src.path, marker)).toBe(false);

    const to = { domain_id: domB, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' as const };
    const jobId = randomUUID();
    const out = await volumes.copy({
      job_id: jobId,
      from: { domain_id: domA, disk_id: src.disk_id, volume_id: src.volume_id, format: 'qcow2' },
      to,
      source_encryption: { secret: oldKey },
      target_encryption: { secret: newKey },
    });
    expect((await imageInfo(out.path, { format: 'qcow2' })).encrypted).toBe(true);
    expect(await plainHas(out.path, marker)).toBe(false);
    expect(await holdsMarker(out.path, [newKey], marker)).toBe(true);
    // The copy has its own key: the source's does not open it.
    const secrets = join(domains.base, 'secrets');
    const oldFile = join(keyDir, 'old.key');
    const newFile = join(keyDir, 'new.key');
    await writeFile(oldFile, oldKey, { mode: 0o600 });
    await writeFile(newFile, newKey, { mode: 0o600 });
    await expect(verifyVolumeKey(out.path, oldFile)).rejects.toMatchObject({
      code: 'encryption_key_invalid',
    });
    await verifyVolumeKey(out.path, newFile);
    expect(domains.progress.some((e) => e.job_id === jobId && e.state === 'succeeded')).toBe(true);
    // No key file outlives the copy.
    expect(await readdir(secrets)).toEqual([]);
  });

  it('copies a thin overlay on an encrypted base (two keys) into one flat volume', async () => {
    const baseKey = key();
    const cloneKey = key();
    const copyKey = key();
    const base = await encryptedVolume(domA, baseKey);
    await writeMarker(base.path, [baseKey], 'VIREO-BASE-MARKER ', 0);
    const clone = { disk_id: randomUUID(), volume_id: randomUUID() };
    const overlay = await volumes.create({
      domain_id: domA,
      ...clone,
      format: 'qcow2',
      backing: { disk_id: base.disk_id, volume_id: base.volume_id, format: 'qcow2' },
      encryption: { secret: cloneKey },
    });
    expect(overlay.backing).toBe(`../${base.disk_id}/${base.volume_id}`);
    expect(overlay.virtual_size).toBe(16 * MiB);
    await writeMarker(overlay.path, [cloneKey, baseKey], 'VIREO-CLONE-MARKER ', 4 * MiB);
    expect(await plainHas(overlay.path, 'VIREO-CLONE-MARKER')).toBe(false);
    expect(await holdsMarker(overlay.path, [cloneKey, baseKey], 'VIREO-BASE-MARKER ')).toBe(true);

    const from = { domain_id: domA, ...clone, format: 'qcow2' as const };
    // Without the base's key the chain does not open: refused before anything is written.
    await expect(
      volumes.copy({
        job_id: randomUUID(),
        from,
        to: { domain_id: domB, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' },
        source_encryption: { secret: cloneKey },
        target_encryption: { secret: copyKey },
      }),
    ).rejects.toMatchObject({ code: 'invalid_params' });
    // A wrong key: the LUKS header says so.
    const wrongTo = {
      domain_id: domB,
      disk_id: randomUUID(),
      volume_id: randomUUID(),
      format: 'qcow2' as const,
    };
    await expect(
      volumes.copy({
        job_id: randomUUID(),
        from,
        to: wrongTo,
        source_encryption: { secret: key(), base_secret: baseKey },
      }),
    ).rejects.toMatchObject({ code: 'encryption_key_invalid' });
    await expect(
      readdir(join(domains.roots.get(domB) as string, 'images', wrongTo.disk_id)),
    ).rejects.toThrow();

    const flat = await volumes.copy({
      job_id: randomUUID(),
      from,
      to: { domain_id: domB, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' },
      source_encryption: { secret: cloneKey, base_secret: baseKey },
      target_encryption: { secret: copyKey },
    });
    expect(flat.backing).toBeNull();
    expect(await plainHas(flat.path, 'VIREO-BASE-MARKER')).toBe(false);
    expect(await holdsMarker(flat.path, [copyKey], 'VIREO-BASE-MARKER ')).toBe(true);
    expect(await holdsMarker(flat.path, [copyKey], 'VIREO-CLONE-MARKER ')).toBe(true);
  });

  it('decrypts into a plain target when no target key is given (export)', async () => {
    const k = key();
    const src = await encryptedVolume(domA, k);
    await writeMarker(src.path, [k], 'VIREO-EXPORT-MARKER ', 0);
    const plain = await volumes.copy({
      job_id: randomUUID(),
      from: { domain_id: domA, disk_id: src.disk_id, volume_id: src.volume_id, format: 'qcow2' },
      to: { domain_id: domB, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' },
      source_encryption: { secret: k },
    });
    expect((await imageInfo(plain.path, { format: 'qcow2' })).encrypted).toBeFalsy();
    expect(await plainHas(plain.path, 'VIREO-EXPORT-MARKER')).toBe(true);
    // Growing an encrypted volume opens its header: with the key it works, without it qemu-img fails.
    const grown = await volumes.resize({
      domain_id: domA,
      disk_id: src.disk_id,
      volume_id: src.volume_id,
      format: 'qcow2',
      size_bytes: 32 * MiB,
      encryption: { secret: k },
    });
    expect(grown.virtual_size).toBe(32 * MiB);
    await expect(
      volumes.resize({
        domain_id: domA,
        disk_id: src.disk_id,
        volume_id: src.volume_id,
        format: 'qcow2',
        size_bytes: 48 * MiB,
      }),
    ).rejects.toThrow(/key-secret/);
    // A raw target cannot carry a LUKS header.
    await expect(
      volumes.copy({
        job_id: randomUUID(),
        from: { domain_id: domA, disk_id: src.disk_id, volume_id: src.volume_id, format: 'qcow2' },
        to: { domain_id: domB, disk_id: randomUUID(), volume_id: randomUUID(), format: 'raw' },
        source_encryption: { secret: k },
        target_encryption: { secret: key() },
      }),
    ).rejects.toMatchObject({ code: 'invalid_params' });
  });
});
