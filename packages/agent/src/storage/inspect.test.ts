import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { patchFile as patch, qemuImg, refusalOf, u64, useTempDir } from '../../test/support/image-files';
import { inspectUntrustedImage } from './inspect';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const tmp = useTempDir('vireo-inspect-');
let root: string;
let uploads: string;

function refused(path: string, options: Partial<Parameters<typeof inspectUntrustedImage>[1]> = {}) {
  return refusalOf(
    inspectUntrustedImage(path, {
      expectedFormat: 'qcow2',
      maxVirtualSize: 4 * GiB,
      allowedDir: uploads,
      ...options,
    }),
  );
}

beforeAll(() => {
  root = tmp.path;
  uploads = join(root, 'uploads');
  mkdirSync(uploads);
});

describe('inspectUntrustedImage', () => {
  it('accepts a clean qcow2 and a clean raw image and reports their sizes', async () => {
    const qcow2 = join(uploads, 'clean.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', qcow2, '64M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 2M', qcow2], { stdio: 'ignore' });
    const inspected = await inspectUntrustedImage(qcow2, {
      expectedFormat: 'qcow2',
      maxVirtualSize: 64 * MiB,
      allowedDir: uploads,
    });
    expect(inspected).toMatchObject({
      format: 'qcow2',
      virtualSize: 64 * MiB,
      encrypted: false,
      leakedClusters: 0,
    });

    const raw = join(uploads, 'clean.raw');
    writeFileSync(raw, Buffer.alloc(MiB, 0x11));
    const rawInfo = await inspectUntrustedImage(raw, {
      expectedFormat: 'raw',
      maxVirtualSize: GiB,
      allowedDir: uploads,
    });
    expect(rawInfo).toMatchObject({ format: 'raw', virtualSize: MiB });
  });

  it('refuses a qcow2 whose backing file is /etc/shadow', async () => {
    const path = join(uploads, 'shadow.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', path, '1M');
    const error = await refused(path);
    expect(error.code).toBe('image_has_backing_file');
    expect(error.details.backingFile).toBe('/etc/shadow');
  });

  it('refuses a json: backing file name', async () => {
    const path = join(uploads, 'json.qcow2');
    const json = 'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/shadow"}}';
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', json, '-F', 'raw', path, '1M');
    expect((await refused(path)).code).toBe('image_json_filename');
  });

  it('refuses an external data file', async () => {
    // Guest writes to such an image land in whatever file the header names.
    const path = join(uploads, 'datafile.qcow2');
    const dataFile = join(root, 'elsewhere.raw');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${dataFile}`, path, '1M');
    const error = await refused(path);
    expect(error.code).toBe('image_has_data_file');
    expect(error.details.dataFile).toBe(dataFile);
  });

  it('refuses a header claiming a huge virtual size before running qemu-img', async () => {
    const path = join(uploads, 'huge.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', path, '1M');
    patch(path, 24, u64(1n << 62n, 'be'));
    const error = await refused(path);
    expect(error.code).toBe('image_too_large');

    const big = join(uploads, 'big.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', big, '8G');
    const tooBig = await refused(big);
    expect(tooBig.code).toBe('image_too_large');
    expect(tooBig.details).toMatchObject({ virtualSize: 8 * GiB, maxVirtualSize: 4 * GiB });
  });

  it('refuses a raw upload that carries a qcow2 header, and a raw file declared qcow2', async () => {
    const looksQcow2 = join(uploads, 'disguised.raw');
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', looksQcow2, '1M');
    const asRaw = await refused(looksQcow2, { expectedFormat: 'raw' });
    expect(asRaw.code).toBe('image_format_mismatch');
    expect(asRaw.details.detected).toBe('qcow2');

    const plain = join(uploads, 'plain.raw');
    writeFileSync(plain, Buffer.alloc(MiB));
    const asQcow2 = await refused(plain, { expectedFormat: 'qcow2' });
    expect(asQcow2.code).toBe('image_format_mismatch');
  });

  it('refuses a qcow2 with corrupt metadata', async () => {
    const path = join(uploads, 'corrupt.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', path, '16M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 0 4M', path], { stdio: 'ignore' });
    // Zero the first refcount block: every allocated cluster now has refcount 0.
    const header = readFileSync(path).subarray(0, 104);
    const refcountTable = Number(header.readBigUInt64BE(48));
    const firstBlock = Number(readFileSync(path).readBigUInt64BE(refcountTable));
    patch(path, firstBlock, Buffer.alloc(64 * 1024));
    const error = await refused(path);
    expect(error.code).toBe('image_corrupt');
    expect(Number(error.details.corruptions)).toBeGreaterThan(0);
  });

  it('refuses a malformed qcow2 header', async () => {
    const path = join(uploads, 'badversion.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', path, '1M');
    patch(path, 4, Buffer.from([0, 0, 0, 9]));
    expect((await refused(path)).code).toBe('image_corrupt');
  });

  it('refuses files outside the allowed directory, also through symlinks', async () => {
    const outside = join(root, 'outside.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', outside, '1M');
    expect((await refused(outside)).code).toBe('path_outside_domain');
    const link = join(uploads, 'link.qcow2');
    symlinkSync(outside, link);
    expect((await refused(link)).code).toBe('path_outside_domain');
    expect((await refused(join(uploads, 'missing.qcow2'))).code).toBe('image_not_found');
  });
});
