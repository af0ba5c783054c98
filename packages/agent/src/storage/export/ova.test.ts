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

/** A tar from raw members; `type` rewrites the type flag (and the checksum) to craft hostile entries. */
function craftTar(members: { name: string; data: Buffer; type?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const h = tarHeader(m.name.length <= 100 ? m.name : 'x', m.data.length, 0);
    if (m.name.length > 100) h.write(m.name.slice(0, 100), 0, 100, 'latin1');
    if (m.type) h.write(m.type, 156, 1, 'ascii');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    parts.push(h, m.data, tarPadding(m.data.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

describe('OVA pack, read and extract on real files and real qemu-img', () => {
  let base: string;
  const data = randomUUID();
  const exp = randomUUID();
  let domains: TestDomains;
  let roots: Map<string, string>;
  let ova: OvaService;
  const src = { disk_id: randomUUID(), volume_id: randomUUID() };

  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' });
  const qemuIo = (cmd: string, path: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', cmd, path]);
  const ovaDir = () => join(roots.get(exp) as string, 'ova');
  const diskDirs = async () => readdir(join(roots.get(data) as string, 'images')).catch(() => []);

  beforeAll(async () => {
    domains = await createTestDomains('vireo-ova-', [data, exp]);
    ({ base, roots } = domains);
    ova = new OvaService(domains.resolveRoot, domains.emit, pino({ level: 'silent' }));
    // A two-volume chain (base + overlay with a marker) so packing has to flatten it.
    const dir = join(roots.get(data) as string, 'images', src.disk_id);
    await mkdir(dir);
    const baseVol = randomUUID();
    qemuImg('create', '-q', '-f', 'qcow2', join(dir, baseVol), '64M');
    qemuIo('write -P 0x5a 0 1M', join(dir, baseVol));
    qemuImg('create', '-q', '-f', 'qcow2', '-b', baseVol, '-F', 'qcow2', join(dir, src.volume_id));
    qemuIo('write -P 0xa5 4M 1M', join(dir, src.volume_id));
  });

  afterAll(async () => {
    await domains?.remove();
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
    expect(await readdir(ovaDir())).toEqual(['web-1.ova']);
    // GNU tar agrees with our writer.
    expect(
      execFileSync('tar', ['-tf', join(ovaDir(), 'web-1.ova')], { encoding: 'utf8' })
        .trim()
        .split('\n'),
    ).toEqual(['web-1.ovf', `${member.disk_id}/${member.volume_id}`]);
    expect(domains.progress.some((e) => e.kind === 'export.ova_pack' && e.state === 'succeeded')).toBe(true);
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
    const source = join(roots.get(data) as string, 'images', src.disk_id, src.volume_id);
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
    const before = await diskDirs();
    const to = { domain_id: data, disk_id: randomUUID(), volume_id: randomUUID(), format: 'qcow2' as const };
    await expect(
      ova.extract({
        job_id: randomUUID(),
        domain_id: exp,
        name: 'small',
        disks: [{ member, to, max_virtual_size: MiB }],
      }),
    ).rejects.toMatchObject({ code: 'image_too_large' });
    expect(await diskDirs()).toEqual(before);
  });

  describe('hostile archives', () => {
    const put = async (name: string, tar: Buffer) => {
      await mkdir(ovaDir(), { recursive: true });
      await writeFile(join(ovaDir(), `${name}.ova`), tar);
    };
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
      await put(
        'dots',
        craftTar([ovfMember('dots'), { name: '../../etc/cron.d/x', data: Buffer.from('x') }]),
      );
      await expect(ova.read({ domain_id: exp, name: 'dots' })).rejects.toMatchObject({ code: 'ova_invalid' });
      await put('abs', craftTar([ovfMember('abs'), { name: '/etc/passwd', data: Buffer.from('x') }]));
      await expect(ova.read({ domain_id: exp, name: 'abs' })).rejects.toMatchObject({ code: 'ova_invalid' });
      const m = `${randomUUID()}/${randomUUID()}`;
      await put('order', craftTar([{ name: m, data: Buffer.from('x') }, ovfMember('order')]));
      await expect(ova.read({ domain_id: exp, name: 'order' })).rejects.toMatchObject({
        code: 'ova_invalid',
      });
    });

    it('refuses symlink and hard-link entries, bad checksums and truncation', async () => {
      const m = `${randomUUID()}/${randomUUID()}`;
      await put('symlink', craftTar([ovfMember('symlink'), { name: m, data: Buffer.alloc(0), type: '2' }]));
      await expect(ova.read({ domain_id: exp, name: 'symlink' })).rejects.toMatchObject({
        code: 'ova_invalid',
      });
      await put('hardlink', craftTar([ovfMember('hardlink'), { name: m, data: Buffer.alloc(0), type: '1' }]));
      await expect(ova.read({ domain_id: exp, name: 'hardlink' })).rejects.toMatchObject({
        code: 'ova_invalid',
      });
      const corrupt = craftTar([ovfMember('sum')]);
      corrupt[0] = 'S'.charCodeAt(0);
      await put('sum', corrupt);
      await expect(ova.read({ domain_id: exp, name: 'sum' })).rejects.toMatchObject({ code: 'ova_invalid' });
      const whole = craftTar([ovfMember('cut'), { name: m, data: Buffer.alloc(4096, 1) }]);
      await put('cut', whole.subarray(0, 2048));
      await expect(ova.read({ domain_id: exp, name: 'cut' })).rejects.toMatchObject({ code: 'ova_invalid' });
    });

    it('refuses a qcow2 inside the OVA that names a backing file, and writes nothing', async () => {
      const tmp = join(base, 'evil.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', tmp, '1M']);
      const member = { disk_id: randomUUID(), volume_id: randomUUID() };
      await put(
        'backing',
        craftTar([
          ovfMember('backing'),
          { name: `${member.disk_id}/${member.volume_id}`, data: await readFile(tmp) },
        ]),
      );
      const before = await diskDirs();
      await expect(extractAll('backing', member)).rejects.toMatchObject({ code: 'image_has_backing_file' });
      expect(await diskDirs()).toEqual(before);
    });

    it('refuses a member that is not in the archive and a symlinked OVA', async () => {
      await expect(
        extractAll('symlink', { disk_id: randomUUID(), volume_id: randomUUID() }),
      ).rejects.toMatchObject({
        code: 'ova_invalid',
      });
      await writeFile(join(base, 'elsewhere.ova'), craftTar([ovfMember('elsewhere')]));
      execFileSync('ln', ['-s', join(base, 'elsewhere.ova'), join(ovaDir(), 'linked.ova')]);
      await expect(ova.read({ domain_id: exp, name: 'linked' })).rejects.toMatchObject({
        code: 'path_not_allowed',
      });
    });
  });
});
