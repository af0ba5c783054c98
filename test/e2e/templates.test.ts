import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import { runCli, loginCli } from '../cli/support/cli';
import type { EngineProcess } from '../support/engine';
import { bootGuestVm, createGuestVm, readDiskStamp, stopGuestVm, writeDiskStamp } from '../support/guest-vms';
import { type ApiAnswer, type Json, type Platform, startPlatform } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const MiB = 1024 ** 2;
/** What the source VM's guest writes at the start of its disk; every clone must read it back. */
const STAMP = 'vireo-template-stamp';

/**
 * Templates end to end: real engine binary, a real enrolled agent, real QEMU (TCG) with the test
 * guest, one local data domain. A VM's disk becomes a template; two thin clones boot from the test
 * ISO at once and read the template's bytes through their overlays; the template cannot be deleted
 * under them; a full clone is an independent image.
 */
describe('templates end to end (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let dir: string;
  let clusterId: string;
  const domain = { id: '', parent: '' };
  const vmIds = new Set<string>();

  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) =>
    (platform as Platform).api.call(method, p, body, headers);
  const settled = (res: ApiAnswer, waitS = 90) => (platform as Platform).api.settled(res, waitS);
  const volumeFile = (diskId: string, volumeId: string) =>
    join(domain.parent, domain.id, 'images', diskId, volumeId);
  const activeVolumeOf = async (vmId: string): Promise<{ disk: string; file: string }> => {
    const disk = (await call('GET', `/vms/${vmId}`)).json.disks[0].id as string;
    const dirOf = join(domain.parent, domain.id, 'images', disk);
    const files = fs.readdirSync(dirOf);
    expect(files).toHaveLength(1);
    return { disk, file: join(dirOf, files[0] as string) };
  };
  const imageInfo = (file: string): Json =>
    JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' }),
    );
  /** Starts a VM on the test ISO and waits for the guest's shell. */
  const boot = (vmId: string) => bootGuestVm(platform as Platform, vmId);
  const stop = (vmId: string) => stopGuestVm(platform as Platform, vmId);
  const readStamp = (vmId: string) => readDiskStamp(platform as Platform, vmId, STAMP.length);
  const withCdrom = async (vmId: string) => {
    const res = await call(
      'PATCH',
      `/vms/${vmId}`,
      { cdrom: { image: 'test-guest.iso' } },
      { 'if-match': '*' },
    );
    expect(res.status, JSON.stringify(res.json)).toBe(200);
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-templates-',
      hostName: 'template-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    ({ engine, dir } = platform);
    clusterId = platform.cluster.id;
    Object.assign(domain, await platform.addLocalDataDomain('templates-data'));
  }, 180_000);

  afterAll(async () => {
    // Whatever failed above, no QEMU and no agent outlive the test.
    await killQemusOf([...vmIds]);
    await platform?.stop();
  });

  it('VM → template → two thin clones boot on overlays of it, delete refused; a full clone is independent', async () => {
    const created = await createGuestVm(platform as Platform, {
      name: 'tpl-source',
      storageDomainId: domain.id,
    });
    const sourceId = created.id as string;
    vmIds.add(sourceId);
    await boot(sourceId);
    await writeDiskStamp(platform as Platform, sourceId, STAMP);
    expect(await readStamp(sourceId)).toBe(STAMP);
    await stop(sourceId);

    const made = await call('POST', '/templates', { vm_id: sourceId, name: 'tpl-e2e' });
    const op = await settled(made, 120);
    expect(op.result.disk_ids).toHaveLength(1);
    const template = (await call('GET', `/templates/${made.json.template.id}`)).json;
    expect(template).toMatchObject({ state: 'ok', memory_mib: 256, created_from_vm_id: sourceId });
    const base = template.disks[0] as Json;
    const baseFile = volumeFile(base.disk_id, base.volume_id);
    // The base is one flattened image, no backing file.
    expect(imageInfo(baseFile)['backing-filename']).toBeUndefined();

    // Two thin clones: qcow2 overlays whose backing is the template volume (relative, same domain).
    const clones: string[] = [];
    for (const name of ['thin-a', 'thin-b']) {
      const res = await call('POST', `/templates/${template.id}/vms`, { name, clone: 'thin' });
      vmIds.add(res.json.vm?.id);
      await settled(res);
      clones.push(res.json.vm.id);
      const { disk, file } = await activeVolumeOf(res.json.vm.id);
      expect(disk).not.toBe(base.disk_id);
      const info = imageInfo(file);
      expect(info['backing-filename']).toBe(`../${base.disk_id}/${base.volume_id}`);
      expect(fs.realpathSync(info['full-backing-filename'])).toBe(fs.realpathSync(baseFile));
      expect(info['virtual-size']).toBe(1024 * MiB);
      await withCdrom(res.json.vm.id);
    }
    // Both run at once on the shared base and see the source's bytes.
    await Promise.all(clones.map((id) => boot(id)));
    for (const id of clones) expect(await readStamp(id)).toBe(STAMP);
    // A write in one clone stays in its overlay.
    await writeDiskStamp(platform as Platform, clones[0]!, 'CHANGED');
    expect(await readStamp(clones[1]!)).toBe(STAMP);

    const refused = await call('DELETE', `/templates/${template.id}`);
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe('template_in_use');
    expect(refused.json.error.details.vms.map((v: Json) => v.name).sort()).toEqual(['thin-a', 'thin-b']);

    // A full clone: an independent flattened copy with the template's bytes.
    const full = await call('POST', `/templates/${template.id}/vms`, { name: 'full-a', clone: 'full' });
    vmIds.add(full.json.vm?.id);
    await settled(full, 120);
    const fullVol = await activeVolumeOf(full.json.vm.id);
    expect(imageInfo(fullVol.file)['backing-filename']).toBeUndefined();
    await withCdrom(full.json.vm.id);
    await boot(full.json.vm.id);
    expect(await readStamp(full.json.vm.id)).toBe(STAMP);

    // Thin clones gone (with their disks): the template goes; the full clone still runs from its copy.
    for (const id of clones) {
      await stop(id);
      await settled(await call('DELETE', `/vms/${id}`));
      vmIds.delete(id);
    }
    await settled(await call('DELETE', `/templates/${template.id}`));
    expect(fs.existsSync(baseFile)).toBe(false);
    expect((await call('GET', `/templates/${template.id}`)).status).toBe(404);
    expect(await readStamp(full.json.vm.id)).toBe(STAMP);
    await stop(full.json.vm.id);
  }, 600_000);

  it('the vireo template commands: create from a VM, list, vm create --template, delete refused then done', async () => {
    const home = join(dir, 'cli-home');
    fs.mkdirSync(home);
    const cli = (args: string[], input?: string) => runCli(args, home, input === undefined ? {} : { input });
    const login = await loginCli(home, engine);
    expect(login.code, login.stderr).toBe(0);
    const vm = await call('POST', '/vms', {
      name: 'cli-src',
      cluster_id: clusterId,
      memory_mib: 128,
      disks: [{ size_gib: 1, storage_domain_id: domain.id }],
    });
    expect(vm.status, JSON.stringify(vm.json)).toBe(201);
    vmIds.add(vm.json.id);

    const made = await cli(['template', 'create', 'cli-tpl', '--vm', 'cli-src', '--wait', '-o', 'json']);
    expect(made.code, made.stderr).toBe(0);
    const template = JSON.parse(made.stdout);
    expect(template).toMatchObject({ name: 'cli-tpl', state: 'ok', memory_mib: 128 });
    const listed = await cli(['template', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`cli-tpl\\s+${template.id}\\s+ok\\s+1\\s+128 MiB\\s+1`));

    const clone = await cli(['vm', 'create', 'cli-thin', '--template', 'cli-tpl', '--wait', '-o', 'json']);
    expect(clone.code, clone.stderr).toBe(0);
    const cloneVm = JSON.parse(clone.stdout);
    vmIds.add(cloneVm.id);
    expect(cloneVm).toMatchObject({ name: 'cli-thin', memory_mib: 128 });
    const { file } = await activeVolumeOf(cloneVm.id);
    expect(imageInfo(file)['backing-filename']).toBe(
      `../${template.disks[0].disk_id}/${template.disks[0].volume_id}`,
    );

    const refused = await cli(['template', 'delete', 'cli-tpl', '--wait']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('template_in_use');
    expect(refused.stderr).toContain('cli-thin');
    await settled(await call('DELETE', `/vms/${cloneVm.id}`));
    vmIds.delete(cloneVm.id);
    const deleted = await cli(['template', 'delete', 'cli-tpl', '--wait']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const gone = await cli(['template', 'show', 'cli-tpl']);
    expect(gone.code).toBe(3);
  }, 120_000);
});
