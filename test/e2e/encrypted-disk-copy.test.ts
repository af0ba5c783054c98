import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import { loginCli, runCli } from '../cli/support/cli';
import { bootGuestVm, createGuestVm, readDiskStamp, stopGuestVm, writeDiskStamp } from '../support/guest-vms';
import { type ApiAnswer, type Json, type Platform, startPlatform } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/** What the guest writes at the start of its encrypted disk; every copy, clone and import reads it. */
const STAMP = `vireo-enc-copy-${Date.now().toString(36)}`;
const MiB = 1024 ** 2;

/**
 * Encrypted disks through copy, move, templates and export/import, end to end: real engine and
 * agent binaries, real QEMU (TCG) with the test guest, two local data domains and an export domain.
 * The guest writes a stamp on an encrypted disk; after each step the new volume files hold none of
 * it in plaintext, and a VM booted on the result reads it back (the keys reached QEMU).
 */
describe('encrypted disks through copy, move, templates and export (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  const a = { id: '', parent: '' };
  const b = { id: '', parent: '' };
  const exp = { id: '', parent: '' };
  const vmIds = new Set<string>();
  let sourceVm = '';
  let sourceDisk = '';

  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) =>
    (platform as Platform).api.call(method, p, body, headers);
  const settled = (res: ApiAnswer, waitS = 180) => (platform as Platform).api.settled(res, waitS);
  const boot = (vmId: string) => bootGuestVm(platform as Platform, vmId);
  const stop = (vmId: string) => stopGuestVm(platform as Platform, vmId);
  const readStamp = (vmId: string) => readDiskStamp(platform as Platform, vmId, STAMP.length);

  /** Every volume file of `diskId` in the domain `d` (its directory must exist). */
  const volumesOf = (d: { id: string; parent: string }, diskId: string) => {
    const dir = join(d.parent, d.id, 'images', diskId);
    return fs.readdirSync(dir).map((f) => join(dir, f));
  };
  /** The disk's volumes are LUKS-encrypted qcow2 and none holds the stamp in plaintext. */
  const expectCiphertext = (d: { id: string; parent: string }, diskId: string) => {
    const files = volumesOf(d, diskId);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const info = JSON.parse(
        execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', f], { encoding: 'utf8' }),
      );
      expect(info.encrypted, f).toBe(true);
      expect(fs.readFileSync(f).includes(STAMP), f).toBe(false);
    }
  };
  /** A VM booting the test guest with no disk of its own; `diskId` is attached to it. */
  const vmWith = async (name: string, diskId: string) => {
    const vm = await createGuestVm(platform as Platform, {
      name,
      storageDomainId: a.id,
      extra: { disks: [] },
    });
    vmIds.add(vm.id);
    const plug = await call('POST', `/vms/${vm.id}/disk-attachments`, { disk_id: diskId });
    expect(plug.status, JSON.stringify(plug.json)).toBe(201);
    return vm.id as string;
  };
  const diskOf = async (diskId: string) => (await call('GET', `/disks/${diskId}`)).json;

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-enc-copy-',
      hostName: 'enc-copy-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    Object.assign(a, await platform.addLocalDataDomain('encc-a'));
    Object.assign(b, await platform.addLocalDataDomain('encc-b'));
    Object.assign(exp, await platform.addLocalDomain('encc-exports', 'export'));
  }, 180_000);

  afterAll(async () => {
    await killQemusOf([...vmIds]);
    await platform?.stop();
  });

  it('moves an encrypted disk to another domain and copies it under a new key; the copy boots with the data', async () => {
    const made = await settled(
      await call('POST', '/disks', {
        name: 'encc-disk',
        storage_domain_id: a.id,
        size_bytes: 64 * MiB,
        encrypted: true,
      }),
    );
    sourceDisk = (made.result as Json).disk_id as string;
    sourceVm = await vmWith('encc-src', sourceDisk);
    await boot(sourceVm);
    await writeDiskStamp(platform as Platform, sourceVm, STAMP);
    await stop(sourceVm);
    expectCiphertext(a, sourceDisk);

    // Move: the same disk and key, re-encrypted into domain b; the old directory goes.
    const moved = await settled(await call('POST', `/disks/${sourceDisk}/move`, { storage_domain_id: b.id }));
    expect(moved.result).toMatchObject({ storage_domain_id: b.id, left_behind: false });
    expect(await diskOf(sourceDisk)).toMatchObject({ storage_domain_id: b.id, encrypted: true, state: 'ok' });
    expect(fs.existsSync(join(a.parent, a.id, 'images', sourceDisk))).toBe(false);
    expectCiphertext(b, sourceDisk);

    // Copy back to a: a new disk with a key of its own (the copy opened the moved volume with its key).
    const copyRes = await call('POST', `/disks/${sourceDisk}/copy`, {
      storage_domain_id: a.id,
      name: 'encc-copy',
    });
    expect(copyRes.status, JSON.stringify(copyRes.json)).toBe(202);
    expect(copyRes.json.disk).toMatchObject({ encrypted: true, storage_domain_id: a.id });
    const copyId = copyRes.json.disk.id as string;
    await settled(copyRes);
    expect(await diskOf(copyId)).toMatchObject({ encrypted: true, state: 'ok' });
    expectCiphertext(a, copyId);

    const reader = await vmWith('encc-copy-vm', copyId);
    await boot(reader);
    expect(await readStamp(reader)).toBe(STAMP);
    await stop(reader);
    await settled(await call('DELETE', `/vms/${reader}`));
    vmIds.delete(reader);
  }, 600_000);

  it('a template of a VM with an encrypted disk gives encrypted thin and full clones that boot with the data', async () => {
    const made = await call('POST', '/templates', { vm_id: sourceVm, name: 'encc-tpl' });
    expect(made.status, JSON.stringify(made.json)).toBe(202);
    await settled(made);
    const template = (await call('GET', `/templates/${made.json.template.id}`)).json;
    const baseId = template.disks[0].disk_id as string;
    expect(await diskOf(baseId)).toMatchObject({ encrypted: true, storage_domain_id: b.id });
    expectCiphertext(b, baseId);

    const clones: Record<'thin' | 'full', string> = { thin: '', full: '' };
    for (const mode of ['thin', 'full'] as const) {
      const res = await call('POST', `/templates/${template.id}/vms`, { name: `encc-${mode}`, clone: mode });
      expect(res.status, JSON.stringify(res.json)).toBe(202);
      clones[mode] = res.json.vm.id;
      vmIds.add(res.json.vm.id);
      await settled(res);
      const vm = (await call('GET', `/vms/${res.json.vm.id}`)).json;
      const disk = await diskOf(vm.disks[0].id);
      expect(disk, mode).toMatchObject({ encrypted: true, state: 'ok' });
      // The thin clone's own file is only its overlay; encrypted under its own key all the same.
      expectCiphertext(b, disk.id);
      await call(
        'PATCH',
        `/vms/${res.json.vm.id}`,
        { cdrom: { image: 'test-guest.iso' } },
        { 'if-match': '*' },
      );
    }
    await Promise.all(Object.values(clones).map((id) => boot(id)));
    for (const id of Object.values(clones)) expect(await readStamp(id)).toBe(STAMP);
    await Promise.all(Object.values(clones).map((id) => stop(id)));
    for (const id of Object.values(clones)) {
      await settled(await call('DELETE', `/vms/${id}`));
      vmIds.delete(id);
    }
    // Deleting the template deletes its disks (and their keys, by the foreign key's cascade).
    await settled(await call('DELETE', `/templates/${template.id}`));
    expect((await call('GET', `/disks/${baseId}`)).status).toBe(404);
  }, 600_000);

  it('exports decrypted with the encryption noted in the OVF; the import is encrypted again and boots', async () => {
    // An OVA carries the disk decrypted too (the agent opens the chain with its keys).
    const ova = await settled(
      await call('POST', `/vms/${sourceVm}/export`, { storage_domain_id: exp.id, format: 'ova' }),
    );
    expect(ova.result).toMatchObject({ format: 'ova' });
    const ovaFile = join(exp.parent, exp.id, 'ova', `${(ova.result as Json).ova_name}.ova`);
    expect(fs.readFileSync(ovaFile).includes(STAMP)).toBe(true);

    await settled(await call('POST', `/vms/${sourceVm}/export`, { storage_domain_id: exp.id }));
    const ovf = fs.readFileSync(
      join(exp.parent, exp.id, 'master', 'vms', sourceVm, `${sourceVm}.ovf`),
      'utf8',
    );
    expect(ovf).toContain('vireo:encrypted="true"');
    // The export domain is portable: its image is plain (documented in docs/export-import.md).
    const [exported] = volumesOf(exp, sourceDisk);
    expect(fs.readFileSync(exported as string).includes(STAMP)).toBe(true);

    await settled(await call('DELETE', `/vms/${sourceVm}`));
    vmIds.delete(sourceVm);
    const imported = await call('POST', `/storage-domains/${exp.id}/exports/${sourceVm}/import`, {
      cluster_id: (platform as Platform).cluster.id,
      storage_domain_id: a.id,
    });
    expect(imported.status, JSON.stringify(imported.json)).toBe(202);
    vmIds.add(sourceVm);
    await settled(imported);
    expect(await diskOf(sourceDisk)).toMatchObject({ encrypted: true, storage_domain_id: a.id, state: 'ok' });
    expectCiphertext(a, sourceDisk);
    await call('PATCH', `/vms/${sourceVm}`, { cdrom: { image: 'test-guest.iso' } }, { 'if-match': '*' });
    await boot(sourceVm);
    expect(await readStamp(sourceVm)).toBe(STAMP);
    await stop(sourceVm);
  }, 600_000);

  it('vireo disk create --encrypt / --no-encrypt, and a new disk of a VM choose encryption explicitly', async () => {
    const home = join((platform as Platform).dir, 'cli-home');
    fs.mkdirSync(home);
    const login = await loginCli(home, (platform as Platform).engine);
    expect(login.code, login.stderr).toBe(0);
    const create = async (name: string, flags: string[]) => {
      const r = await runCli(
        [
          'disk',
          'create',
          name,
          '--storage-domain',
          'encc-a',
          '--size',
          '16M',
          ...flags,
          '--wait',
          '-o',
          'json',
        ],
        home,
      );
      expect(r.code, r.stderr).toBe(0);
      return diskOf(JSON.parse(r.stdout).id);
    };
    expect(await create('encc-cli-on', ['--encrypt'])).toMatchObject({ encrypted: true, state: 'ok' });
    expect(await create('encc-cli-off', ['--no-encrypt'])).toMatchObject({ encrypted: false, state: 'ok' });
    // Neither flag: the engine's disks.encrypt_by_default decides (on by default; the portal reads it).
    expect((await call('GET', '/disks/defaults')).json).toEqual({ encrypted: true });
    const byDefault = await create('encc-cli-default', []);
    expect(byDefault).toMatchObject({ encrypted: true, state: 'ok' });
    // A plain qcow2 disk can be copied into an encrypted one; an encrypted one never into a plain one.
    const off = ((await call('GET', '/disks?limit=100')).json.items as Json[]).find(
      (d) => d.name === 'encc-cli-off',
    );
    const sealed = await call('POST', `/disks/${off?.id}/copy`, {
      storage_domain_id: b.id,
      name: 'encc-sealed',
      encrypted: true,
    });
    expect(sealed.status, JSON.stringify(sealed.json)).toBe(202);
    expect(sealed.json.disk.encrypted).toBe(true);
    await settled(sealed);
    expectCiphertext(b, sealed.json.disk.id);
    const unsealed = await call('POST', `/disks/${byDefault.id}/copy`, {
      storage_domain_id: b.id,
      encrypted: false,
    });
    expect(unsealed.status).toBe(400);
    // A raw disk stays plain by default (LUKS lives in the qcow2 header).
    const rawDisk = await settled(
      await call('POST', '/disks', {
        name: 'encc-raw',
        storage_domain_id: a.id,
        size_bytes: 16 * MiB,
        format: 'raw',
      }),
    );
    expect(await diskOf((rawDisk.result as Json).disk_id)).toMatchObject({ encrypted: false, format: 'raw' });
    // Extending an encrypted disk while it is down opens its LUKS header with its key.
    const grown = await call(
      'PATCH',
      `/disks/${byDefault.id}`,
      { size_bytes: 32 * MiB },
      { 'if-match': '*' },
    );
    expect(grown.status, JSON.stringify(grown.json)).toBe(202);
    await settled(grown);
    expect(await diskOf(byDefault.id)).toMatchObject({ size_bytes: 32 * MiB, state: 'ok' });
    const both = await runCli(
      ['disk', 'create', 'x', '--storage-domain', 'encc-a', '--size', '16M', '--encrypted', '--no-encrypt'],
      home,
    );
    expect(both.code).toBe(2);

    // A VM's inline disk takes the same choice; raw cannot be encrypted.
    const vm = await createGuestVm(platform as Platform, {
      name: 'encc-inline',
      storageDomainId: a.id,
      extra: { disks: [{ size_gib: 1, storage_domain_id: a.id, encrypted: true }] },
    });
    vmIds.add(vm.id);
    expect(await diskOf(vm.disks[0].id)).toMatchObject({ encrypted: true });
    const raw = await call('POST', '/vms', {
      name: 'encc-raw',
      cluster_id: (platform as Platform).cluster.id,
      memory_mib: 128,
      disks: [{ size_gib: 1, format: 'raw', encrypted: true }],
    });
    expect(raw.status, JSON.stringify(raw.json)).toBe(400);
  }, 300_000);
});
