import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDomains, type TestDomains } from '../../../test/support/storage-domains';
import { OvaService } from './ova';
import { TAR_END, tarHeader, tarPadding } from './tar';

const MiB = 1024 ** 2;

function tar(members: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    // Our writer only stores the names it writes; other tools' names (spaces) are patched in.
    const h = tarHeader('x', m.data.length, 0);
    h.fill(0, 0, 100);
    h.write(m.name, 0, 100, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    parts.push(h, m.data, tarPadding(m.data.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/**
 * OVAs written by other tools (VirtualBox, VMware): plain member names (spaces included), a
 * manifest, VMDK or raw images converted to qcow2 on extraction, and hostile VMDKs refused with
 * nothing left behind.
 */
describe('foreign OVA extract on real files and real qemu-img', () => {
  let base: string;
  const data = randomUUID();
  const exp = randomUUID();
  let domains: TestDomains;
  let roots: Map<string, string>;
  let ova: OvaService;
  let raw: string;

  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' });
  const ovaDir = () => join(roots.get(exp) as string, 'ova');
  const diskDirs = async () => readdir(join(roots.get(data) as string, 'images')).catch(() => []);
  const put = async (name: string, members: { name: string; data: Buffer }[]) => {
    await mkdir(ovaDir(), { recursive: true });
    await writeFile(join(ovaDir(), `${name}.ova`), tar(members));
  };
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
    domains = await createTestDomains('vireo-ova-foreign-', [data, exp]);
    ({ base, roots } = domains);
    ova = new OvaService(domains.resolveRoot, domains.emit, pino({ level: 'silent' }));
    raw = join(base, 'guest.raw');
    qemuImg('create', '-q', '-f', 'raw', raw, '32M');
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 1M 2M', raw]);
  });

  afterAll(async () => {
    await domains?.remove();
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
    expect(await readdir(join(roots.get(data) as string, 'images', vol?.disk_id as string))).toEqual([
      vol?.volume_id,
    ]);
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
    const before = await diskDirs();
    await expect(extract('flat', 'flat.vmdk', 'vmdk')).rejects.toMatchObject({
      code: 'image_external_extent',
    });
    expect(await diskDirs()).toEqual(before);
  });

  it('refuses a VMDK larger than the OVF declared, a VMDK declared raw, and a missing member', async () => {
    const vmdk = join(base, 'ms.vmdk');
    qemuImg('convert', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, vmdk);
    await put('big', [ovf('big'), { name: 'big.vmdk', data: await readFile(vmdk) }]);
    const before = await diskDirs();
    await expect(extract('big', 'big.vmdk', 'vmdk', MiB)).rejects.toMatchObject({ code: 'image_too_large' });
    await expect(extract('big', 'big.vmdk', 'raw')).rejects.toMatchObject({ code: 'image_format_mismatch' });
    await expect(extract('big', 'other.vmdk', 'vmdk')).rejects.toMatchObject({ code: 'ova_invalid' });
    // The OVF member cannot be extracted as a disk.
    await expect(extract('big', 'big.ovf', 'raw')).rejects.toMatchObject({ code: 'ova_invalid' });
    expect(await diskDirs()).toEqual(before);
  });

  it('reports .ova files whose names are not accepted instead of hiding them', async () => {
    await mkdir(ovaDir(), { recursive: true });
    await writeFile(join(ovaDir(), 'Debian Web.ova'), tar([ovf('Debian Web')]));
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
