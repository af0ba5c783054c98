import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../qemu/qmp/index';
import { StorageError } from './errors';
import {
  checkImage,
  convertImage,
  createImage,
  createOverlay,
  imageInfo,
  METADATA_LIMITS,
  resizeImage,
  runQemuImg,
} from './qemu-img';

const MiB = 1024 * 1024;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vireo-qemu-img-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function storageError(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describe('qemu-img wrapper', () => {
  it('creates qcow2 and raw images of the requested size and preallocation', async () => {
    const qcow2 = join(dir, 'a.qcow2');
    await createImage({ path: qcow2, format: 'qcow2', sizeBytes: 64 * MiB });
    const info = await imageInfo(qcow2, { format: 'qcow2' });
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 64 * MiB });

    const raw = join(dir, 'a.raw');
    await createImage({ path: raw, format: 'raw', sizeBytes: 8 * MiB, preallocation: 'full' });
    expect(statSync(raw).size).toBe(8 * MiB);
    expect(statSync(raw).blocks * 512).toBeGreaterThanOrEqual(8 * MiB);
  });

  it('creates an overlay with an explicit backing format and reports the chain', async () => {
    const base = join(dir, 'base.qcow2');
    const top = join(dir, 'top.qcow2');
    await createImage({ path: base, format: 'qcow2', sizeBytes: 32 * MiB });
    await createOverlay({ path: top, backingPath: 'base.qcow2', backingFormat: 'qcow2' });
    const chain = await imageInfo(top, { format: 'qcow2', backingChain: true });
    expect(chain.map((i) => i.filename)).toEqual([top, base]);
    expect(chain[0]).toMatchObject({ 'backing-filename': 'base.qcow2', 'backing-filename-format': 'qcow2' });
    expect(chain[0]?.['virtual-size']).toBe(32 * MiB);
  });

  it('checks, converts and resizes', async () => {
    const source = join(dir, 'src.qcow2');
    await createImage({ path: source, format: 'qcow2', sizeBytes: 16 * MiB });
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 1M', source], { stdio: 'ignore' });
    const report = await checkImage(source, { format: 'qcow2' });
    expect(report).toMatchObject({ 'check-errors': 0 });
    expect(report.corruptions ?? 0).toBe(0);

    const target = join(dir, 'dst.raw');
    await convertImage({ source, sourceFormat: 'qcow2', target, targetFormat: 'raw' });
    const copied = readFileSync(target);
    expect(copied.length).toBe(16 * MiB);
    expect(copied[0]).toBe(0xab);
    expect(copied[MiB]).toBe(0);

    await resizeImage(source, { format: 'qcow2', sizeBytes: 32 * MiB });
    expect((await imageInfo(source, { format: 'qcow2' }))['virtual-size']).toBe(32 * MiB);
    // Shrinking destroys data: refused unless asked for explicitly.
    await storageError(resizeImage(source, { format: 'qcow2', sizeBytes: 8 * MiB }));
    await resizeImage(source, { format: 'qcow2', sizeBytes: 8 * MiB, shrink: true });
    expect((await imageInfo(source, { format: 'qcow2' }))['virtual-size']).toBe(8 * MiB);
  });

  it('creates a LUKS-encrypted qcow2 from a secret file', async () => {
    const secretFile = join(dir, 'key');
    writeFileSync(secretFile, 'correct horse battery staple', { mode: 0o600 });
    const path = join(dir, 'enc.qcow2');
    await createImage({
      path,
      format: 'qcow2',
      sizeBytes: 16 * MiB,
      encryption: { secretFile, iterTimeMs: 50 },
    });
    const info = await imageInfo(path, { format: 'qcow2' });
    expect(info.encrypted).toBe(true);
    expect(info['format-specific']?.data.encrypt).toMatchObject({ format: 'luks' });
  }, 60_000);

  it('reads an image a running QEMU holds only with force-share (-U)', async () => {
    const path = join(dir, 'held.qcow2');
    await createImage({ path, format: 'qcow2', sizeBytes: 16 * MiB });
    const qmpSocket = join(dir, 'held-qmp.sock');
    const qemu = spawn(
      'qemu-system-x86_64',
      [
        '-S',
        '-nodefaults',
        '-display',
        'none',
        '-accel',
        'tcg',
        '-blockdev',
        `driver=qcow2,node-name=d0,file.driver=file,file.filename=${path}`,
        '-device',
        'virtio-blk-pci,drive=d0',
        '-qmp',
        `unix:${qmpSocket},server=on,wait=off`,
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => qemu.once('exit', resolve));
    try {
      const qmp = await QmpClient.connect(qmpSocket, { waitForSocket: true, timeoutMs: 10_000 });
      try {
        const locked = await storageError(imageInfo(path, { format: 'qcow2' }));
        expect(locked.code).toBe('qemu_img_failed');
        expect(String(locked.details.stderr)).toMatch(/lock/i);
        expect((await imageInfo(path, { format: 'qcow2', forceShare: true }))['virtual-size']).toBe(16 * MiB);
        await qmp.execute('quit');
      } finally {
        await qmp.close();
      }
    } finally {
      qemu.kill('SIGKILL');
      await exited;
    }
  });

  it('kills qemu-img at the timeout', async () => {
    // Opening a FIFO blocks until a writer appears: a deterministic hang.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    const error = await storageError(
      runQemuImg(['info', '-f', 'raw', fifo], { limits: { ...METADATA_LIMITS, timeoutMs: 300 } }),
    );
    expect(error.code).toBe('qemu_img_timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('runs qemu-img under an address-space limit', async () => {
    const path = join(dir, 'limit.qcow2');
    await createImage({ path, format: 'qcow2', sizeBytes: MiB });
    const error = await storageError(
      runQemuImg(['info', '-f', 'qcow2', path], { limits: { ...METADATA_LIMITS, memoryBytes: 4 * MiB } }),
    );
    expect(error.code).toBe('qemu_img_failed');
  });

  it('refuses a non-positive size before running anything', async () => {
    const error = await storageError(
      createImage({ path: join(dir, 'zero.qcow2'), format: 'qcow2', sizeBytes: 0 }),
    );
    expect(error.details.sizeBytes).toBe(0);
  });
});
