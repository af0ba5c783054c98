import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { patchFile as patch, qemuImg, refusalOf, u64, useTempDir } from '../../test/support/image-files';
import type { StorageError } from './errors';
import { inspectUntrustedVmdk } from './inspect';

const MiB = 1024 * 1024;
const tmp = useTempDir('vireo-vmdk-gate-');
let dir: string;
const le64 = (v: bigint) => u64(v, 'le');

/** A fresh VMDK of `subformat` made by qemu-img from 16 MiB of raw data. */
function vmdk(name: string, subformat: string): string {
  const raw = join(dir, `${name}.raw`);
  qemuImg('create', '-q', '-f', 'raw', raw, '16M');
  const out = join(dir, `${name}.vmdk`);
  qemuImg('convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, out);
  rmSync(raw);
  return out;
}

/** Rewrites the embedded descriptor of a sparse VMDK (it sits at sector `descriptorOffset`). */
function rewriteDescriptor(path: string, edit: (text: string) => string): void {
  const file = readFileSync(path);
  const offset = Number(file.readBigUInt64LE(28)) * 512;
  const size = Number(file.readBigUInt64LE(36)) * 512;
  const area = file.subarray(offset, offset + size);
  const end = area.indexOf(0);
  const text = edit(area.subarray(0, end).toString('latin1'));
  const out = Buffer.alloc(size, 0);
  out.write(text, 'latin1');
  patch(path, offset, out);
}

function refusal(path: string, max = 64 * MiB): Promise<StorageError> {
  return refusalOf(inspectUntrustedVmdk(path, { maxVirtualSize: max, allowedDir: dir }));
}

beforeAll(() => {
  dir = tmp.path;
});

describe('the VMDK gate (images from other platforms)', () => {
  it.each(['streamOptimized', 'monolithicSparse'])('accepts a single-file %s image', async (subformat) => {
    const path = vmdk(`ok-${subformat}`, subformat);
    const got = await inspectUntrustedVmdk(path, { maxVirtualSize: 64 * MiB, allowedDir: dir });
    expect(got.virtualSize).toBe(16 * MiB);
    expect(got.path).toBe(path);
  });

  it('refuses a monolithicFlat descriptor whose extent is /etc/shadow, before QEMU opens it', async () => {
    const path = join(dir, 'flat.vmdk');
    writeFileSync(
      path,
      '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 32768 FLAT "/etc/shadow" 0\n',
    );
    expect((await refusal(path)).code).toBe('image_external_extent');
  });

  it('refuses a split (twoGbMaxExtentSparse) descriptor qemu-img itself wrote', async () => {
    const path = vmdk('split', 'twoGbMaxExtentSparse');
    expect((await refusal(path)).code).toBe('image_external_extent');
  });

  it('refuses a sparse VMDK whose descriptor adds a second extent', async () => {
    const path = vmdk('two-extents', 'monolithicSparse');
    rewriteDescriptor(path, (t) => t.replace(/(RW \d+ SPARSE "[^"]*")/, '$1\nRW 32768 FLAT "/etc/shadow" 0'));
    const err = await refusal(path);
    expect(err.code).toBe('image_external_extent');
    expect(err.details.extents).toBe(2);
  });

  it('refuses a sparse VMDK of another create type (its descriptor would be followed)', async () => {
    const path = vmdk('vmfs', 'monolithicSparse');
    rewriteDescriptor(path, (t) => t.replace('createType="monolithicSparse"', 'createType="vmfsSparse"'));
    expect((await refusal(path)).code).toBe('image_external_extent');
  });

  it('refuses capacity 0, which makes QEMU read the embedded descriptor as a descriptor file', async () => {
    const path = vmdk('cap0', 'monolithicSparse');
    rewriteDescriptor(path, (t) => t.replace(/RW \d+ SPARSE "[^"]*"/, 'RW 32768 FLAT "/etc/shadow" 0'));
    patch(path, 12, le64(0n));
    const err = await refusal(path);
    expect(err.code).toBe('image_corrupt');
    expect(err.message).toContain('capacity 0');
  });

  it('refuses a delta disk naming a parent', async () => {
    const path = vmdk('delta', 'monolithicSparse');
    rewriteDescriptor(path, (t) =>
      t.replace('parentCID=ffffffff', 'parentCID=12345678\nparentFileNameHint="/etc/shadow"'),
    );
    expect((await refusal(path)).code).toBe('image_has_backing_file');
  });

  it.each(['monolithicSparse', 'streamOptimized'])('refuses a huge capacity in a %s header', async (sub) => {
    const path = vmdk(`huge-${sub}`, sub);
    patch(path, 12, le64(1n << 40n)); // 512 TiB
    const err = await refusal(path);
    expect(err.code).toBe('image_too_large');
  });

  /**
   * A streamOptimized VMDK as VMware writes it: the header says "grain directory at the end" and
   * the real header is the footer (marker, footer, end-of-stream marker). qemu-img does not write
   * that layout, so it is made from one of its images; `footerCapacity` sets the footer's capacity.
   */
  function footerVmdk(name: string, footerCapacity?: bigint): string {
    const path = vmdk(name, 'streamOptimized');
    const header = Buffer.from(readFileSync(path).subarray(0, 512));
    const footer = Buffer.from(header);
    if (footerCapacity !== undefined) footer.writeBigUInt64LE(footerCapacity, 12);
    const marker = Buffer.alloc(512);
    marker.writeUInt32LE(3, 12); // MARKER_FOOTER
    writeFileSync(path, Buffer.concat([marker, footer, Buffer.alloc(512)]), { flag: 'a' });
    patch(path, 56, le64(0xffffffffffffffffn)); // GD_AT_END
    return path;
  }

  it('reads the footer of a streamOptimized VMDK whose grain directory is at the end', async () => {
    const ok = await inspectUntrustedVmdk(footerVmdk('footer-ok'), {
      maxVirtualSize: 64 * MiB,
      allowedDir: dir,
    });
    expect(ok.virtualSize).toBe(16 * MiB);
    expect((await refusal(footerVmdk('footer-huge', 1n << 40n))).code).toBe('image_too_large');
    const zero = await refusal(footerVmdk('footer-zero', 0n));
    expect(zero.code).toBe('image_corrupt');
    expect(zero.message).toContain('capacity 0');
  });

  it('refuses a qcow2 or raw file declared vmdk', async () => {
    const q = join(dir, 'q.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', q, '16M');
    expect((await refusal(q)).code).toBe('image_format_mismatch');
    const r = join(dir, 'r.img');
    writeFileSync(r, Buffer.alloc(4096));
    expect((await refusal(r)).code).toBe('image_format_mismatch');
  });
});
