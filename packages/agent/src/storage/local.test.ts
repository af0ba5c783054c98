import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from './errors';
import { LocalStorageDriver } from './local';
import { imageInfo } from './qemu-img';
import { defaultStorageRegistry } from './registry';

const MiB = 1024 * 1024;
let root: string;
let domainPath: string;
let driver: LocalStorageDriver;

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return (error as StorageError).code;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vireo-local-'));
  domainPath = join(root, 'domain');
  const created = defaultStorageRegistry().create({
    id: '8d0c6a43-5f0e-4b7a-9a51-2f3e4d5c6b7a',
    driver: 'local',
    path: domainPath,
  });
  expect(created).toBeInstanceOf(LocalStorageDriver);
  driver = created as LocalStorageDriver;
  await driver.activate();
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('local storage driver', () => {
  it('creates, describes and deletes volumes in nested directories', async () => {
    const info = await driver.createVolume({
      name: 'images/disk1/vol1.qcow2',
      format: 'qcow2',
      sizeBytes: 32 * MiB,
    });
    expect(info).toMatchObject({
      name: 'images/disk1/vol1.qcow2',
      path: join(domainPath, 'images/disk1/vol1.qcow2'),
      format: 'qcow2',
      virtualSize: 32 * MiB,
      encrypted: false,
    });
    const raw = await driver.createVolume({ name: 'images/disk2.raw', format: 'raw', sizeBytes: MiB });
    expect(raw.virtualSize).toBe(MiB);
    await driver.deleteVolume('images/disk2.raw');
    expect(await code(driver.resolveVolume('images/disk2.raw'))).toBe('volume_not_found');
  });

  it('never overwrites an existing volume, nor follows a dangling symlink', async () => {
    await driver.createVolume({ name: 'taken.qcow2', format: 'qcow2', sizeBytes: MiB });
    expect(await code(driver.createVolume({ name: 'taken.qcow2', format: 'qcow2', sizeBytes: MiB }))).toBe(
      'volume_exists',
    );
    symlinkSync(join(root, 'would-be-created-outside.qcow2'), join(domainPath, 'dangling.qcow2'));
    expect(await code(driver.createVolume({ name: 'dangling.qcow2', format: 'qcow2', sizeBytes: MiB }))).toBe(
      'volume_exists',
    );
  });

  it('makes overlays whose backing path is relative to the overlay', async () => {
    await driver.createVolume({ name: 'images/tmpl/base.qcow2', format: 'qcow2', sizeBytes: 8 * MiB });
    const overlay = await driver.createVolume({
      name: 'images/vm1/top.qcow2',
      format: 'qcow2',
      backing: { name: 'images/tmpl/base.qcow2', format: 'qcow2' },
    });
    expect(overlay.backingFile).toBe('../tmpl/base.qcow2');
    expect(overlay.virtualSize).toBe(8 * MiB);
    const chain = await imageInfo(overlay.path, { format: 'qcow2', backingChain: true });
    expect(chain).toHaveLength(2);
  });

  it.each([
    '../escape.qcow2',
    '/etc/passwd',
    'images/../../escape.qcow2',
    '.hidden',
    'images/./x',
    '',
    'a//b',
    'with space',
    'new\nline',
  ])('refuses the volume name %j', async (name) => {
    expect(await code(driver.createVolume({ name, format: 'qcow2', sizeBytes: MiB }))).toBe(
      'invalid_volume_name',
    );
    expect(await code(driver.resolveVolume(name))).toBe('invalid_volume_name');
  });

  it('refuses symlinks that lead out of the domain', async () => {
    const outsideFile = join(root, 'secret.img');
    writeFileSync(outsideFile, 'host data');
    symlinkSync(outsideFile, join(domainPath, 'evil.img'));
    expect(await code(driver.resolveVolume('evil.img'))).toBe('path_outside_domain');
    expect(await code(driver.deleteVolume('evil.img'))).toBe('path_outside_domain');

    const outsideDir = join(root, 'elsewhere');
    mkdirSync(outsideDir);
    symlinkSync(outsideDir, join(domainPath, 'linkdir'));
    expect(
      await code(driver.createVolume({ name: 'linkdir/new.qcow2', format: 'qcow2', sizeBytes: MiB })),
    ).toBe('path_outside_domain');
  });

  it('reports capacity', async () => {
    const { totalBytes, freeBytes } = await driver.capacity();
    expect(totalBytes).toBeGreaterThan(0);
    expect(freeBytes).toBeGreaterThan(0);
    expect(freeBytes).toBeLessThanOrEqual(totalBytes);
  });

  it('refuses unknown drivers and bad domain paths', () => {
    const registry = defaultStorageRegistry();
    expect(() => registry.create({ id: 'x', driver: 'nfs', path: '/srv' })).toThrowError(
      expect.objectContaining({ code: 'unknown_storage_driver' }),
    );
    expect(() => registry.create({ id: 'x', driver: 'local', path: 'relative/dir' })).toThrowError(
      expect.objectContaining({ code: 'invalid_storage_config' }),
    );
    expect(() => registry.create({ id: 'x', driver: 'local', path: '/srv/../etc' })).toThrowError(
      expect.objectContaining({ code: 'invalid_storage_config' }),
    );
  });
});
