/**
 * volume.seal on real images and a real QEMU (TCG): ext4 file systems made without mounting
 * (`mkfs.ext4 -d`), sealed by the appliance, and read back without mounting (`debugfs`).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryLuksBenchmark, runQemuImg } from '../src/storage/qemu-img';
import { findSealAppliance } from '../src/storage/seal/appliance';
import { sealVolume } from '../src/storage/seal/service';
import { createTestDomains, type TestDomains } from './support/storage-domains';

const run = promisify(execFile);
const MACHINE_ID = '0123456789abcdef0123456789abcdef';

// Each case boots one appliance VM: ~5 s idle under TCG, far longer when the cores are shared.
describe('volume.seal in the appliance', { timeout: 200_000 }, () => {
  const domainId = randomUUID();
  let domains: TestDomains;
  let root: string;
  let secretsDir: string;
  const opts = () => ({
    qemuBinary: 'qemu-system-x86_64',
    accel: 'tcg' as const,
    secretsDir,
    log: pino({ level: 'silent' }),
    timeoutMs: 150_000,
  });

  beforeAll(async () => {
    if (!findSealAppliance()) throw new Error('seal appliance missing: run scripts/build-seal-appliance.sh');
    domains = await createTestDomains('vireo-seal-', [domainId]);
    root = domains.roots.get(domainId) as string;
    secretsDir = join(domains.base, 'secrets');
  });

  afterAll(async () => {
    await domains?.remove();
  });

  /** A raw ext4 image of a guest tree with a hostname, a machine-id (and the dbus copy). */
  async function guestImage(name: string): Promise<string> {
    const tree = join(domains.base, `${name}-tree`);
    await mkdir(join(tree, 'etc', 'ssh'), { recursive: true });
    await mkdir(join(tree, 'var', 'lib', 'dbus'), { recursive: true });
    await writeFile(join(tree, 'etc', 'hostname'), 'web-1\n');
    await writeFile(join(tree, 'etc', 'machine-id'), `${MACHINE_ID}\n`);
    await writeFile(join(tree, 'var', 'lib', 'dbus', 'machine-id'), `${MACHINE_ID}\n`);
    await writeFile(join(tree, 'etc', 'ssh', 'ssh_host_ed25519_key'), 'not a real key\n');
    await writeFile(join(tree, 'etc', 'motd'), 'kept\n');
    const raw = join(domains.base, `${name}.raw`);
    await run('truncate', ['-s', '32M', raw]);
    await run('mkfs.ext4', ['-q', '-F', '-d', tree, raw]);
    return raw;
  }

  async function volumeDir(): Promise<{ disk_id: string; volume_id: string; path: string }> {
    const disk_id = randomUUID();
    const volume_id = randomUUID();
    await mkdir(join(root, 'images', disk_id), { recursive: true });
    return { disk_id, volume_id, path: join(root, 'images', disk_id, volume_id) };
  }

  /** debugfs reads a file of an unmounted ext4 image. */
  async function readGuestFile(raw: string, path: string): Promise<string | undefined> {
    const { stdout, stderr } = await run('debugfs', ['-R', `cat ${path}`, raw]);
    return /File not found/.test(stderr) ? undefined : stdout;
  }

  it('resets machine-id and hostname in a qcow2 volume and keeps everything else', async () => {
    const raw = await guestImage('plain');
    const v = await volumeDir();
    await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, v.path]);
    const result = await sealVolume(domains.resolveRoot, opts(), {
      domain_id: domainId,
      format: 'qcow2',
      ...v,
    });
    expect(result.changed).toEqual(['machine-id', 'dbus-machine-id', 'hostname']);
    expect(result.root_device).toBe('vda');
    const back = join(domains.base, 'plain-back.raw');
    await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', v.path, back]);
    expect(await readGuestFile(back, '/etc/machine-id')).toBe('');
    expect(await readGuestFile(back, '/etc/hostname')).toBe('localhost\n');
    expect(await readGuestFile(back, '/var/lib/dbus/machine-id')).toBeUndefined();
    expect(await readGuestFile(back, '/etc/ssh/ssh_host_ed25519_key')).toBe('not a real key\n');
    expect(await readGuestFile(back, '/etc/motd')).toBe('kept\n');
  });

  it('seals an encrypted volume with its key (and removes ssh host keys when asked)', async () => {
    const raw = await guestImage('enc');
    const v = await volumeDir();
    const secret = randomBytes(32).toString('base64');
    const keyFile = join(domains.base, 'enc.key');
    await writeFile(keyFile, secret, { mode: 0o600 });
    const obj = `secret,id=k,format=raw,file=${keyFile}`;
    // QEMU's LUKS calibration sometimes measures no CPU time: retried as the agent does.
    await retryLuksBenchmark(
      () =>
        runQemuImg([
          'convert',
          '-q',
          '--object',
          obj,
          '-f',
          'raw',
          '-O',
          'qcow2',
          '-o',
          'encrypt.format=luks,encrypt.key-secret=k,encrypt.iter-time=1',
          raw,
          v.path,
        ]),
      () => rm(v.path, { force: true }),
    );
    const result = await sealVolume(domains.resolveRoot, opts(), {
      domain_id: domainId,
      format: 'qcow2',
      ...v,
      encryption: { secret },
      remove_ssh_host_keys: true,
    });
    expect(result.changed).toEqual(['machine-id', 'dbus-machine-id', 'hostname', 'ssh-host-keys']);
    const back = join(domains.base, 'enc-back.raw');
    await run('qemu-img', [
      'convert',
      '-q',
      '--object',
      obj,
      '--image-opts',
      `driver=qcow2,file.filename=${v.path},encrypt.key-secret=k`,
      '-O',
      'raw',
      back,
    ]);
    expect(await readGuestFile(back, '/etc/machine-id')).toBe('');
    expect(await readGuestFile(back, '/etc/hostname')).toBe('localhost\n');
    expect(await readGuestFile(back, '/etc/ssh/ssh_host_ed25519_key')).toBeUndefined();
    // The key file was removed after QEMU read it.
    expect(await readdir(secretsDir)).toEqual([]);
  });

  it('answers no_root_fs for a disk without a file system and changes nothing', async () => {
    const v = await volumeDir();
    const pattern = Buffer.alloc(1024 * 1024, 'vireo-no-fs-');
    await writeFile(v.path, Buffer.concat(Array.from({ length: 8 }, () => pattern)));
    const before = await run('sha256sum', [v.path]);
    const err = await sealVolume(domains.resolveRoot, opts(), {
      domain_id: domainId,
      format: 'raw',
      ...v,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'seal_failed', details: { reason: 'no_root_fs' } });
    expect((await run('sha256sum', [v.path])).stdout).toBe(before.stdout);
  });

  it('refuses with seal_unavailable when the appliance files are missing', async () => {
    const v = await volumeDir();
    await expect(
      sealVolume(
        domains.resolveRoot,
        { ...opts(), appliance: () => undefined },
        {
          domain_id: domainId,
          format: 'raw',
          ...v,
        },
      ),
    ).rejects.toMatchObject({ code: 'seal_unavailable' });
  });
});
