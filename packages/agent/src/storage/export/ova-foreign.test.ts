import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImg } from '../../../test/support/image-files';
import { craftTar as tar, createOvaFixture, type OvaFixture } from '../../../test/support/ova';

const MiB = 1024 ** 2;

/**
 * OVAs written by other tools (VirtualBox, VMware): plain member names (spaces included), a
 * manifest, VMDK or raw images converted to qcow2 on extraction, and hostile VMDKs refused with
 * nothing left behind.
 */
describe('foreign OVA extract on real files and real qemu-img', () => {
  let f: OvaFixture;
  let base: string;
  let data: string;
  let exp: string;
  let ova: OvaFixture['ova'];
  let raw: string;

  const put = (name: string, members: { name: string; data: Buffer }[]) => f.put(name, tar(members));
  const ovf = (name: string) => ({ name: `${name}.ovf`, data: Buffer.from('<Envelope/>') });
  const extract = (name: string, file: string, format: 'vmdk' | 'raw' | 'qcow2', max = 64 * MiB) =>
    ova.extract({
      job_id: randomUUID(),
      domain_id: exp,
      name,
      disks: [
        {
          member: { file, format },
          to: { domain_id: data, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' },
          max_virtual_size: max,
        },
      ],
    });

  beforeAll(async () => {
    f = await createOvaFixture('vireo-ova-foreign-');
    ({ base, data, exp, ova } = f);
    raw = join(base, 'guest.raw');
    qemuImg('create', '-q', '-f', 'raw', raw, '32M');
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 1M 2M', raw]);
  });

  afterAll(async () => {
    await f?.remove();
  });

  it('lists, reads and converts a streamOptimized VMDK next to a manifest into an identical qcow2', async () => {
    const vmdk = join(base, 'so.vmdk');
    qemuImg('convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
    await put('Debian-Web', [
      ovf('Debian Web'),
      { name: 'Debian Web-disk001.vmdk', data: await readFile(vmdk) },
      { name: 'Debian Web.mf', data: Buffer.from('SHA256(Debian Web.ovf)= 00\n') },
    ]);
    expect((await ova.list(exp)).names).toContain('Debian-Web');
    const read = await ova.read({ domain_id: exp, name: 'Debian-Web' });
    expect(read.members.map((m) => m.name)).toEqual([
      'Debian Web.ovf',
      'Debian Web-disk001.vmdk',
      'Debian Web.mf',
    ]);
    const out = await extract('Debian-Web', 'Debian Web-disk001.vmdk', 'vmdk');
    const vol = out.volumes[0];
    expect(vol).toMatchObject({ format: 'qcow2', virtual_size: 32 * MiB, backing: null });
    expect(() => qemuImg('compare', '-f', 'raw', '-F', 'qcow2', raw, vol?.path as string)).not.toThrow();
    // Only the volume stays: the copied-out VMDK is gone.
    expect(await readdir(join(f.root(data), 'images', vol?.disk_id as string))).toEqual([vol?.volume_id]);
  });

  it('converts a raw member', async () => {
    await put('rawdisk', [ovf('rawdisk'), { name: 'disk.img', data: await readFile(raw) }]);
    const out = await extract('rawdisk', 'disk.img', 'raw');
    expect(() =>
      qemuImg('compare', '-f', 'raw', '-F', 'qcow2', raw, out.volumes[0]?.path as string),
    ).not.toThrow();
  });

  it('refuses a monolithicFlat descriptor naming /etc/shadow and writes nothing', async () => {
    const descriptor =
      '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 65536 FLAT "/etc/shadow" 0\n';
    await put('flat', [ovf('flat'), { name: 'flat.vmdk', data: Buffer.from(descriptor) }]);
    const before = await f.diskDirs();
    await expect(extract('flat', 'flat.vmdk', 'vmdk')).rejects.toMatchObject({
      code: 'image_external_extent',
    });
    expect(await f.diskDirs()).toEqual(before);
  });

  it('refuses a VMDK larger than the OVF declared, a VMDK declared raw, and a missing member', async () => {
    const vmdk = join(base, 'ms.vmdk');
    qemuImg('convert', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, vmdk);
    await put('big', [ovf('big'), { name: 'big.vmdk', data: await readFile(vmdk) }]);
    const before = await f.diskDirs();
    await expect(extract('big', 'big.vmdk', 'vmdk', MiB)).rejects.toMatchObject({ code: 'image_too_large' });
    await expect(extract('big', 'big.vmdk', 'raw')).rejects.toMatchObject({ code: 'image_format_mismatch' });
    await expect(extract('big', 'other.vmdk', 'vmdk')).rejects.toMatchObject({ code: 'ova_invalid' });
    // The OVF member cannot be extracted as a disk.
    await expect(extract('big', 'big.ovf', 'raw')).rejects.toMatchObject({ code: 'ova_invalid' });
    expect(await f.diskDirs()).toEqual(before);
  });

  it('reports .ova files whose names are not accepted instead of hiding them', async () => {
    await mkdir(f.ovaDir(), { recursive: true });
    await writeFile(join(f.ovaDir(), 'Debian Web.ova'), tar([ovf('Debian Web')]));
    const listed = await ova.list(exp);
    expect(listed.refused).toEqual(['Debian Web.ova']);
    expect(listed.names).not.toContain('Debian Web');
    await expect(ova.read({ domain_id: exp, name: 'Debian Web' })).rejects.toMatchObject({
      code: 'invalid_params',
    });
  });

  it('still refuses member names with a path', async () => {
    await put('pathy', [ovf('pathy'), { name: 'sub/disk.vmdk', data: Buffer.from('x') }]);
    await expect(ova.read({ domain_id: exp, name: 'pathy' })).rejects.toMatchObject({ code: 'ova_invalid' });
  });
});
