import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginCli, runCli } from '../cli/support/cli';
import { type Json, type Platform, startPlatform, until } from '../support/platform';

const MACHINE_ID = 'fedcba9876543210fedcba9876543210';

/**
 * Template sealing end to end: real engine, enrolled agent and the seal appliance under QEMU (TCG).
 * An ext4 image (made without mounting) is uploaded with the CLI as a VM's disk; `vireo template
 * create --seal` copies and seals it; the template's volume is read back without mounting.
 */
describe('template sealing end to end (CLI + engine + agent + appliance)', () => {
  let platform: Platform | undefined;
  let work: string;
  let configHome: string;
  const domain = { id: '', parent: '' };

  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const cli = (args: string[]) => runCli(args, configHome, { timeoutMs: 240_000 });
  const debugfsCat = (raw: string, path: string) => {
    const out = execFileSync('debugfs', ['-R', `cat ${path}`, raw], { encoding: 'utf8', stdio: 'pipe' });
    return out;
  };

  beforeAll(async () => {
    platform = await startPlatform({ prefix: 'vireo-seal-e2e-', hostName: 'seal-host' });
    work = fs.mkdtempSync(join(platform.dir, 'work-'));
    configHome = join(work, 'cli');
    fs.mkdirSync(configHome);
    Object.assign(domain, await platform.addLocalDataDomain('seal-data'));
    const login = await loginCli(configHome, platform.engine);
    expect(login.code, login.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it('vireo template create --seal empties machine-id and resets the hostname in the copy only', async () => {
    const tree = join(work, 'tree');
    fs.mkdirSync(join(tree, 'etc'), { recursive: true });
    fs.writeFileSync(join(tree, 'etc', 'hostname'), 'web-1\n');
    fs.writeFileSync(join(tree, 'etc', 'machine-id'), `${MACHINE_ID}\n`);
    const raw = join(work, 'guest.raw');
    execFileSync('truncate', ['-s', '32M', raw]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, raw]);
    const qcow2 = join(work, 'guest.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);

    const up = await cli([
      'image',
      'upload',
      qcow2,
      '--storage-domain',
      'seal-data',
      '--disk-name',
      'seal-src',
    ]);
    expect(up.code, up.stderr).toBe(0);
    const disk = await until(
      'the uploaded disk is ok',
      async () => {
        const items = (await call('GET', '/disks')).json.items as Json[];
        return items.find((d) => d.name === 'seal-src' && d.state === 'ok');
      },
      60_000,
    );
    const vm = await call('POST', '/vms', {
      name: 'seal-src-vm',
      cluster_id: (platform as Platform).cluster.id,
      cpus: 1,
      memory_mib: 128,
      boot_order: ['disk'],
      // A blank first disk (never written): copied blank, not sealed (no file system to seal).
      disks: [{ size_gib: 1 }],
    });
    expect(vm.status, JSON.stringify(vm.json)).toBe(201);
    const attach = await call('POST', `/vms/${vm.json.id}/disk-attachments`, {
      disk_id: disk.id,
      bootable: true,
    });
    expect(attach.status, JSON.stringify(attach.json)).toBe(201);

    const made = await cli(['template', 'create', 'sealed', '--vm', 'seal-src-vm', '--seal', '--wait']);
    expect(made.code, `${made.stdout}\n${made.stderr}`).toBe(0);
    const template = ((await call('GET', '/templates')).json.items as Json[]).find(
      (t) => t.name === 'sealed',
    );
    expect(template?.state).toBe('ok');
    expect(template?.disks).toHaveLength(2);
    const tdisk = template?.disks[1] as Json;
    const ops = (await call('GET', '/operations?limit=50')).json.items as Json[];
    const op = ops.find((o) => o.type === 'template.create' && o.target?.id === template?.id);
    expect(op?.result?.sealed).toEqual([{ disk_id: tdisk.disk_id, changed: ['machine-id', 'hostname'] }]);

    const back = join(work, 'template.raw');
    const file = join(domain.parent, domain.id, 'images', tdisk.disk_id, tdisk.volume_id);
    execFileSync('qemu-img', ['convert', '-q', '-U', '-O', 'raw', '-f', tdisk.format ?? 'qcow2', file, back]);
    expect(debugfsCat(back, '/etc/machine-id')).toBe('');
    expect(debugfsCat(back, '/etc/hostname')).toBe('localhost\n');
    // The source disk is untouched.
    const srcBack = join(work, 'source.raw');
    const srcDir = join(domain.parent, domain.id, 'images', disk.id);
    const [srcVolume] = fs.readdirSync(srcDir);
    execFileSync('qemu-img', [
      'convert',
      '-q',
      '-U',
      '-O',
      'raw',
      join(srcDir, srcVolume as string),
      srcBack,
    ]);
    expect(debugfsCat(srcBack, '/etc/machine-id')).toBe(`${MACHINE_ID}\n`);
    expect(debugfsCat(srcBack, '/etc/hostname')).toBe('web-1\n');
  }, 300_000);
});
