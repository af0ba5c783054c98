import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import { writeOvf } from '../../packages/engine/src/domain/ovf';
import { loginCli, runCli } from '../cli/support/cli';
import { bootGuestVm, createGuestVm, readDiskStamp, stopGuestVm, writeDiskStamp } from '../support/guest-vms';
import { type ApiAnswer, type Json, type Platform, startPlatform } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/** What the guest writes at the start of its disk before the export; the imported VM must read it back. */
const STAMP = 'vireo-export-stamp';

/**
 * Export and import end to end: real engine binary, a real enrolled agent, real QEMU (TCG) with the
 * test guest, a local data domain and a local export domain. A VM writes a stamp on its disk, is
 * exported as OVF, deleted with its disks, imported, and boots reading the stamp back; name and id
 * clashes answer 409 until renamed with new ids; then the same VM goes through an OVA and back.
 */
describe('export and import end to end (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let dir: string;
  let clusterId: string;
  const data = { id: '', parent: '' };
  const exp = { id: '', parent: '' };
  const vmIds = new Set<string>();

  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) =>
    (platform as Platform).api.call(method, p, body, headers);
  const settled = (res: ApiAnswer, waitS = 120) => (platform as Platform).api.settled(res, waitS);
  const boot = (vmId: string) => bootGuestVm(platform as Platform, vmId);
  const stop = (vmId: string) => stopGuestVm(platform as Platform, vmId);
  const readStamp = (vmId: string) => readDiskStamp(platform as Platform, vmId, STAMP.length);
  const importIt = (entityId: string, body: Json = {}) =>
    call('POST', `/storage-domains/${exp.id}/exports/${entityId}/import`, {
      cluster_id: clusterId,
      storage_domain_id: data.id,
      ...body,
    });
  const deleteVm = async (vmId: string) => {
    await settled(await call('DELETE', `/vms/${vmId}`));
    vmIds.delete(vmId);
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-export-',
      hostName: 'export-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    dir = platform.dir;
    clusterId = platform.cluster.id;
    Object.assign(data, await platform.addLocalDataDomain('exp-data'));
    Object.assign(exp, await platform.addLocalDomain('exports', 'export'));
  }, 180_000);

  afterAll(async () => {
    await killQemusOf([...vmIds]);
    await platform?.stop();
  });

  it('OVF: export, delete, import, boot with the disk data; name and id clashes; then OVA and back', async () => {
    const created = await createGuestVm(platform as Platform, {
      name: 'exp-vm',
      storageDomainId: data.id,
      extra: { nics: [{ type: 'user', mac: '56:6f:00:00:aa:01' }] },
    });
    const vmId = created.id as string;
    vmIds.add(vmId);
    const diskId = created.disks[0].id as string;
    await boot(vmId);
    await writeDiskStamp(platform as Platform, vmId, STAMP);
    await stop(vmId);

    // A data domain is not an export target.
    const wrongKind = await call('POST', `/vms/${vmId}/export`, { storage_domain_id: data.id });
    expect(wrongKind.status).toBe(400);

    const exported = await settled(await call('POST', `/vms/${vmId}/export`, { storage_domain_id: exp.id }));
    expect(exported.result).toMatchObject({ format: 'ovf', path: `master/vms/${vmId}/${vmId}.ovf` });
    const ovfFile = join(exp.parent, exp.id, 'master', 'vms', vmId, `${vmId}.ovf`);
    expect(fs.readFileSync(ovfFile, 'utf8')).toContain('<ovf:Envelope');
    expect(fs.readdirSync(join(exp.parent, exp.id, 'images'))).toContain(diskId);
    // The disks are usable again after the export.
    expect((await call('GET', `/disks/${diskId}`)).json.state).toBe('ok');
    const again = await settled(
      await call('POST', `/vms/${vmId}/export`, { storage_domain_id: exp.id }),
    ).catch((err: Error) => err);
    expect(String(again)).toContain('export_exists');

    const listed = await call('GET', `/storage-domains/${exp.id}/exports`);
    expect(listed.status, JSON.stringify(listed.json)).toBe(200);
    expect(listed.json.items).toEqual([
      expect.objectContaining({ id: vmId, kind: 'vm', name: 'exp-vm', format: 'ovf', memory_mib: 256 }),
    ]);
    expect(listed.json.invalid).toEqual([]);
    // The same through the CLI.
    const home = join(dir, 'cli-home');
    fs.mkdirSync(home);
    const cli = (args: string[]) => runCli(args, home, { timeoutMs: 300_000 });
    const login = await loginCli(home, (platform as Platform).engine);
    expect(login.code, login.stderr).toBe(0);
    const cliList = await cli(['export', 'list', 'exports']);
    expect(cliList.code, cliList.stderr).toBe(0);
    expect(cliList.stdout).toMatch(new RegExp(`vm\\s+exp-vm\\s+${vmId}\\s+ovf\\s+1\\s+1024 MiB`));

    // Delete the VM and its disks, then import it back under its own ids.
    await deleteVm(vmId);
    expect(fs.existsSync(join(data.parent, data.id, 'images', diskId))).toBe(false);
    const imported = await importIt(vmId);
    expect(imported.status, JSON.stringify(imported.json)).toBe(202);
    expect(imported.json).toMatchObject({ kind: 'vm', id: vmId, name: 'exp-vm' });
    vmIds.add(vmId);
    await settled(imported);
    const back = (await call('GET', `/vms/${vmId}`)).json;
    expect(back).toMatchObject({ name: 'exp-vm', memory_mib: 256, boot_order: ['cdrom', 'disk'] });
    expect(back.disks).toEqual([expect.objectContaining({ id: diskId })]);
    expect(back.nics[0].mac).toBe('56:6f:00:00:aa:01');
    await call('PATCH', `/vms/${vmId}`, { cdrom: { image: 'test-guest.iso' } }, { 'if-match': '*' });
    await boot(vmId);
    expect(await readStamp(vmId)).toBe(STAMP);
    await stop(vmId);

    // Same name: 409 name_in_use; renamed but same ids: 409 id_in_use; renamed with new ids: name-1.
    const clash = await importIt(vmId);
    expect(clash.status).toBe(409);
    expect(clash.json.error.code).toBe('name_in_use');
    const idClash = await importIt(vmId, { on_clash: 'rename' });
    expect(idClash.status).toBe(409);
    expect(idClash.json.error.code).toBe('id_in_use');
    const renamed = await importIt(vmId, { on_clash: 'rename', new_ids: true });
    expect(renamed.status, JSON.stringify(renamed.json)).toBe(202);
    vmIds.add(renamed.json.id);
    expect(renamed.json.name).toBe('exp-vm-1');
    expect(renamed.json.id).not.toBe(vmId);
    await settled(renamed);
    const copy = (await call('GET', `/vms/${renamed.json.id}`)).json;
    expect(copy.disks).toHaveLength(1);
    expect(copy.disks[0].id).not.toBe(diskId);
    expect(copy.nics[0].mac).not.toBe('56:6f:00:00:aa:01');
    await deleteVm(renamed.json.id);

    // OVA: one tar on the export domain; the VM deleted and imported from it boots with its data.
    const ova = await cli(['vm', 'export', 'exp-vm', '--domain', 'exports', '--ova', '--wait', '-o', 'json']);
    expect(ova.code, ova.stderr).toBe(0);
    expect(JSON.parse(ova.stdout).result).toMatchObject({ format: 'ova', ova_name: 'exp-vm' });
    expect(fs.existsSync(join(exp.parent, exp.id, 'ova', 'exp-vm.ova'))).toBe(true);
    const both = (await call('GET', `/storage-domains/${exp.id}/exports`)).json.items as Json[];
    expect(both.map((i) => i.format).sort()).toEqual(['ova', 'ovf']);
    await deleteVm(vmId);
    vmIds.add(vmId);
    const fromOva = await cli([
      'vm',
      'import',
      'exports',
      vmId,
      '--cluster',
      'Default',
      '--domain',
      'exp-data',
      '--ova',
      '--wait',
      '-o',
      'json',
    ]);
    expect(fromOva.code, fromOva.stderr).toBe(0);
    expect(JSON.parse(fromOva.stdout)).toMatchObject({ type: 'vm.import', state: 'succeeded' });
    await call('PATCH', `/vms/${vmId}`, { cdrom: { image: 'test-guest.iso' } }, { 'if-match': '*' });
    await boot(vmId);
    expect(await readStamp(vmId)).toBe(STAMP);
    await stop(vmId);

    // Audit trail.
    const events = (await call('GET', `/events?object_id=${vmId}&limit=100`)).json.items as Json[];
    const kinds = events.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['vm.exported', 'vm.imported']));
  }, 900_000);
  it('a template goes out and back through OVF; planted hostile exports are refused and leave nothing', async () => {
    const src = await call('POST', '/vms', {
      name: 'tpl-src',
      cluster_id: clusterId,
      memory_mib: 128,
      disks: [{ size_gib: 1, storage_domain_id: data.id }],
    });
    expect(src.status, JSON.stringify(src.json)).toBe(201);
    vmIds.add(src.json.id);
    const made = await call('POST', '/templates', { vm_id: src.json.id, name: 'exp-tpl' });
    await settled(made);
    const tplId = made.json.template.id as string;
    const tplDisk = made.json.template.disks[0].disk_id as string;
    await settled(await call('POST', `/templates/${tplId}/export`, { storage_domain_id: exp.id }));
    await settled(await call('DELETE', `/templates/${tplId}`));
    expect((await call('GET', `/templates/${tplId}`)).status).toBe(404);
    const imported = await importIt(tplId);
    expect(imported.status, JSON.stringify(imported.json)).toBe(202);
    expect(imported.json).toMatchObject({ kind: 'template', id: tplId, name: 'exp-tpl' });
    await settled(imported);
    const back = (await call('GET', `/templates/${tplId}`)).json;
    expect(back).toMatchObject({ state: 'ok', memory_mib: 128 });
    expect(back.disks.map((d: Json) => d.disk_id)).toEqual([tplDisk]);
    const base = back.disks[0] as Json;
    expect(fs.existsSync(join(data.parent, data.id, 'images', base.disk_id, base.volume_id))).toBe(true);
    // A thin clone of the imported template works.
    const clone = await call('POST', `/templates/${tplId}/vms`, { name: 'from-imported', clone: 'thin' });
    vmIds.add(clone.json.vm?.id);
    await settled(clone);

    // A planted export whose image names a backing file (/etc/shadow): listed, but its import fails
    // at the image gate and leaves no VM, no disk row and no file behind.
    const evil = { id: randomUUID(), disk: randomUUID(), volume: randomUUID() };
    const evilDir = join(exp.parent, exp.id, 'images', evil.disk);
    fs.mkdirSync(evilDir);
    execFileSync('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      '/etc/shadow',
      '-F',
      'raw',
      join(evilDir, evil.volume),
      '1M',
    ]);
    const evilOvf = writeOvf(
      {
        kind: 'vm',
        id: evil.id,
        name: 'evil',
        description: '',
        cpus: 1,
        memory_mib: 128,
        os_type: 'other',
        boot_order: ['disk'],
        console: 'vnc',
        cdrom: null,
        template: null,
        created_at: null,
      },
      [
        {
          disk_id: evil.disk,
          volume_id: evil.volume,
          name: 'evil-disk',
          description: '',
          size_bytes: 1024 * 1024,
          format: 'qcow2',
          interface: 'virtio',
          bootable: true,
          position: 0,
          file_bytes: null,
        },
      ],
      [],
    );
    fs.mkdirSync(join(exp.parent, exp.id, 'master', 'vms', evil.id), { recursive: true });
    fs.writeFileSync(join(exp.parent, exp.id, 'master', 'vms', evil.id, `${evil.id}.ovf`), evilOvf);
    // And an OVF that tries an external entity: listed as invalid, never parsed into anything.
    const xxe = randomUUID();
    fs.mkdirSync(join(exp.parent, exp.id, 'master', 'vms', xxe));
    fs.writeFileSync(
      join(exp.parent, exp.id, 'master', 'vms', xxe, `${xxe}.ovf`),
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/shadow">]><x>&a;</x>',
    );
    const listed = (await call('GET', `/storage-domains/${exp.id}/exports`)).json;
    expect(listed.items.map((i: Json) => i.name)).toContain('evil');
    expect(listed.invalid).toEqual([
      { path: `master/vms/${xxe}/${xxe}.ovf`, reason: expect.stringContaining('DOCTYPE') },
    ]);
    expect((await importIt(xxe)).json.error.code).toBe('export_not_found');

    const attempt = await importIt(evil.id);
    expect(attempt.status, JSON.stringify(attempt.json)).toBe(202);
    const op = await (platform as Platform).api.operationOf(attempt);
    expect(op.state).toBe('failed');
    expect(JSON.stringify(op.error)).toMatch(/backing/);
    expect((await call('GET', `/vms/${evil.id}`)).status).toBe(404);
    expect((await call('GET', `/disks/${evil.disk}`)).status).toBe(404);
    expect(fs.existsSync(join(data.parent, data.id, 'images', evil.disk))).toBe(false);
  }, 600_000);
});
