import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImg } from '../../../test/support/image-files';
import { craftTar, createOvaFixture, type OvaFixture } from '../../../test/support/ova';

const MiB = 1024 ** 2;

describe('OVA pack, read and extract on real files and real qemu-img', () => {
  let f: OvaFixture;
  let base: string;
  let data: string;
  let exp: string;
  let ova: OvaFixture['ova'];
  const src = { disk_id: randomUUID(), volume_id: randomUUID() };

  const qemuIo = (cmd: string, path: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', cmd, path]);

  beforeAll(async () => {
    f = await createOvaFixture('vireo-ova-');
    ({ base, data, exp, ova } = f);
    // A two-volume chain (base + overlay with a marker) so packing has to flatten it.
    const dir = join(f.root(data), 'images', src.disk_id);
    await mkdir(dir);
    const baseVol = randomUUID();
    qemuImg('create', '-q', '-f', 'qcow2', join(dir, baseVol), '64M');
    qemuIo('write -P 0x5a 0 1M', join(dir, baseVol));
    qemuImg('create', '-q', '-f', 'qcow2', '-b', baseVol, '-F', 'qcow2', join(dir, src.volume_id));
    qemuIo('write -P 0xa5 4M 1M', join(dir, src.volume_id));
  });

  afterAll(async () => {
    await f?.remove();
  });

  it('packs OVF + a flattened qcow2, reads the OVF back and extracts an identical image', async () => {
    const member = { disk_id: randomUUID(), volume_id: randomUUID() };
    const packed = await ova.pack({
      job_id: randomUUID(),
      domain_id: exp,
      name: 'web-1',
      ovf: '<ovf/>',
      disks: [{ from: { domain_id: data, ...src, format: 'qcow2' }, member }],
    });
    expect(packed.members.map((m) => m.name)).toEqual(['web-1.ovf', `${member.disk_id}/${member.volume_id}`]);
    expect(await readdir(f.ovaDir())).toEqual(['web-1.ova']);
    // GNU tar agrees with our writer.
    expect(
      execFileSync('tar', ['-tf', join(f.ovaDir(), 'web-1.ova')], { encoding: 'utf8' })
        .trim()
        .split('\n'),
    ).toEqual(['web-1.ovf', `${member.disk_id}/${member.volume_id}`]);
    expect(f.progress.some((e) => e.kind === 'export.ova_pack' && e.state === 'succeeded')).toBe(true);
    await expect(
      ova.pack({ job_id: randomUUID(), domain_id: exp, name: 'web-1', ovf: '<ovf/>', disks: [] }),
    ).rejects.toMatchObject({ code: 'image_exists' });

    const read = await ova.read({ domain_id: exp, name: 'web-1' });
    expect(read.ovf).toBe('<ovf/>');
    expect((await ova.list(exp)).names).toEqual(['web-1']);

    const to = { domain_id: data, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' as const };
    const out = await ova.extract({
      job_id: randomUUID(),
      domain_id: exp,
      name: 'web-1',
      disks: [{ member, to, max_virtual_size: 64 * MiB }],
    });
    expect(out.volumes[0]).toMatchObject({ virtual_size: 64 * MiB, backing: null, format: 'qcow2' });
    const copy = out.volumes[0]?.path as string;
    // Same guest-visible content as the source chain (base data and the overlay's marker).
    const source = join(f.root(data), 'images', src.disk_id, src.volume_id);
    expect(() => qemuImg('compare', '-f', 'qcow2', '-F', 'qcow2', source, copy)).not.toThrow();
    expect(JSON.parse(qemuImg('info', '--output=json', copy))['backing-filename']).toBeUndefined();
  });

  it('refuses an image larger than the OVF declared and leaves nothing behind', async () => {
    const member = { disk_id: randomUUID(), volume_id: randomUUID() };
    await ova.pack({
      job_id: randomUUID(),
      domain_id: exp,
      name: 'small',
      ovf: '<ovf/>',
      disks: [{ from: { domain_id: data, ...src, format: 'qcow2' }, member }],
    });
    const before = await f.diskDirs();
    const to = { domain_id: data, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' as const };
    await expect(
      ova.extract({
        job_id: randomUUID(),
        domain_id: exp,
        name: 'small',
        disks: [{ member, to, max_virtual_size: MiB }],
      }),
    ).rejects.toMatchObject({ code: 'image_too_large' });
    expect(await f.diskDirs()).toEqual(before);
  });

  describe('hostile archives', () => {
    const extractAll = async (name: string, member: { disk_id: string; volume_id: string }) => {
      const to = {
        domain_id: data,
        disk_id: randomUUID(),
        volume_id: randomUUID(),
        format: 'qcow2' as const,
      };
      return ova.extract({
        job_id: randomUUID(),
        domain_id: exp,
        name,
        disks: [{ member, to, max_virtual_size: 64 * MiB }],
      });
    };
    const ovfMember = (name: string) => ({ name: `${name}.ovf`, data: Buffer.from('<ovf/>') });

    it('refuses ../ names, absolute names and an OVF that is not first', async () => {
      await f.put(
        'dots',
        craftTar([ovfMember('dots'), { name: '../../etc/cron.d/x', data: Buffer.from('x') }]),
      );
      await expect(ova.read({ domain_id: exp, name: 'dots' })).rejects.toMatchObject({ code: 'ova_invalid' });
      await f.put('abs', craftTar([ovfMember('abs'), { name: '/etc/passwd', data: Buffer.from('x') }]));
      await expect(ova.read({ domain_id: exp, name: 'abs' })).rejects.toMatchObject({ code: 'ova_invalid' });
      const m = `${randomUUID()}/${randomUUID()}`;
      await f.put('order', craftTar([{ name: m, data: Buffer.from('x') }, ovfMember('order')]));
      await expect(ova.read({ domain_id: exp, name: 'order' })).rejects.toMatchObject({
        code: 'ova_invalid',
      });
    });

    it('refuses symlink and hard-link entries, bad checksums and truncation', async () => {
      const m = `${randomUUID()}/${randomUUID()}`;
      await f.put('symlink', craftTar([ovfMember('symlink'), { name: m, data: Buffer.alloc(0), type: '2' }]));
      await expect(ova.read({ domain_id: exp, name: 'symlink' })).rejects.toMatchObject({
        code: 'ova_invalid',
      });
      await f.put(
        'hardlink',
        craftTar([ovfMember('hardlink'), { name: m, data: Buffer.alloc(0), type: '1' }]),
      );
      await expect(ova.read({ domain_id: exp, name: 'hardlink' })).rejects.toMatchObject({
        code: 'ova_invalid',
      });
      const corrupt = craftTar([ovfMember('sum')]);
      corrupt[0] = 'S'.charCodeAt(0);
      await f.put('sum', corrupt);
      await expect(ova.read({ domain_id: exp, name: 'sum' })).rejects.toMatchObject({ code: 'ova_invalid' });
      const whole = craftTar([ovfMember('cut'), { name: m, data: Buffer.alloc(4096, 1) }]);
      await f.put('cut', whole.subarray(0, 2048));
      await expect(ova.read({ domain_id: exp, name: 'cut' })).rejects.toMatchObject({ code: 'ova_invalid' });
    });

    it('refuses a qcow2 inside the OVA that names a backing file, and writes nothing', async () => {
      const tmp = join(base, 'evil.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', tmp, '1M']);
      const member = { disk_id: randomUUID(), volume_id: randomUUID() };
      await f.put(
        'backing',
        craftTar([
          ovfMember('backing'),
          { name: `${member.disk_id}/${member.volume_id}`, data: await readFile(tmp) },
        ]),
      );
      const before = await f.diskDirs();
      await expect(extractAll('backing', member)).rejects.toMatchObject({ code: 'image_has_backing_file' });
      expect(await f.diskDirs()).toEqual(before);
    });

    it('refuses a member that is not in the archive and a symlinked OVA', async () => {
      await expect(
        extractAll('symlink', { disk_id: randomUUID(), volume_id: randomUUID() }),
      ).rejects.toMatchObject({
        code: 'ova_invalid',
      });
      await writeFile(join(base, 'elsewhere.ova'), craftTar([ovfMember('elsewhere')]));
      execFileSync('ln', ['-s', join(base, 'elsewhere.ova'), join(f.ovaDir(), 'linked.ova')]);
      await expect(ova.read({ domain_id: exp, name: 'linked' })).rejects.toMatchObject({
        code: 'path_not_allowed',
      });
    });
  });
});
