import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import { bootGuestVm, readDiskStamp, stopGuestVm } from '../support/guest-vms';
import { loginCli, runCli } from '../cli/support/cli';
import { type ApiAnswer, type Json, type Platform, startPlatform } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/** What the first engine's disk holds at its start (in the base volume, under a snapshot overlay). */
const STAMP = 'vireo-domain-import-stamp';

/**
 * A data domain moves between engines with its VM: engine A has a VM whose disk is a chain (base +
 * snapshot overlay, a stamp written into the base); the domain goes to maintenance (the OVF store
 * writes the VM's OVF and the disk's metadata under master/) and is detached; A stops. Engine B,
 * with its own database and agent, imports the domain from the same path, lists what is
 * unregistered, registers the VM and starts it: the guest boots and reads A's stamp through the chain.
 * A floating disk is registered alone; a disk planted in the detached domain (backed by a host file)
 * is listed as refused and cannot be registered.
 */
describe('domain import with its VMs (two engines, real agents and QEMU)', () => {
  let a: Platform | undefined;
  let b: Platform | undefined;
  let parent = '';
  let vmId = '';

  beforeAll(async () => {
    assertTestGuestBuilt();
    parent = await mkdtemp(join(tmpdir(), 'vireo-domain-import-sd-'));
  });

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await a?.stop();
    await b?.stop();
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  const start = (prefix: string, hostName: string) =>
    startPlatform({
      prefix,
      hostName,
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
  const call = (p: Platform, method: string, path: string, body?: unknown) => p.api.call(method, path, body);
  const ok = (res: ApiAnswer, status: number) => {
    expect(res.status, JSON.stringify(res.json)).toBe(status);
    return res.json;
  };

  it('detach on A → import, list, register and start on B', async () => {
    // --- Engine A: a VM with a two-volume disk on a local data domain.
    a = await start('vireo-domain-import-a-', 'import-host-a');
    const pa = a;
    const dc = pa.cluster.datacenter_id as string;
    const sd = ok(
      await call(pa, 'POST', '/storage-domains', {
        name: 'moving-data',
        kind: 'data',
        backend: 'local',
        host_id: pa.hostId,
        path: parent,
      }),
      201,
    );
    const domainId = sd.id as string;
    await pa.api.settled(
      await call(pa, 'POST', `/storage-domains/${domainId}/attach`, { datacenter_id: dc }),
    );
    await pa.api.settled(await call(pa, 'POST', `/storage-domains/${domainId}/activate`));
    const created = ok(
      await call(pa, 'POST', '/vms', {
        name: 'traveller',
        cluster_id: pa.cluster.id,
        memory_mib: 256,
        boot_order: ['cdrom', 'disk'],
        cdrom: { image: 'test-guest.iso' },
      }),
      201,
    );
    vmId = created.id;
    // Plain disks: an encrypted disk's key stays with the engine that made it, so another engine
    // cannot register it (disk_encrypted).
    const disk = await call(pa, 'POST', '/disks', {
      name: 'traveller-root',
      size_gib: 1,
      storage_domain_id: domainId,
      encrypted: false,
    });
    const diskOp = await pa.api.settled(disk);
    const diskId = (disk.json.disk?.id ?? diskOp.target.id) as string;
    // The VM is down: the attachment is made at once (201).
    ok(await call(pa, 'POST', `/vms/${vmId}/disk-attachments`, { disk_id: diskId, bootable: true }), 201);
    // A floating disk (no VM) travels too and is registered on its own.
    const spare = await call(pa, 'POST', '/disks', {
      name: 'spare',
      size_gib: 1,
      storage_domain_id: domainId,
      encrypted: false,
    });
    await pa.api.settled(spare);
    const spareId = spare.json.disk.id as string;
    const diskDir = join(parent, domainId, 'images', diskId);
    const [baseVolume] = fs.readdirSync(diskDir);
    // The stamp goes into the base volume; the snapshot's overlay then sits on top of it.
    execFileSync(
      'qemu-io',
      ['-f', 'qcow2', '-c', `write -P 0x41 0 ${STAMP.length}`, join(diskDir, baseVolume as string)],
      {
        stdio: 'pipe',
      },
    );
    await pa.api.settled(
      await call(pa, 'POST', `/vms/${vmId}/snapshots`, { description: 'before the move' }),
    );
    expect(fs.readdirSync(diskDir).filter((f) => /^[0-9a-f-]{36}$/.test(f))).toHaveLength(2);
    // A template made from the VM (its disk flattened into a base volume on the same domain).
    const tpl = await call(pa, 'POST', '/templates', { vm_id: vmId, name: 'traveller-tpl' });
    await pa.api.settled(tpl, 120);
    const templateId = tpl.json.template.id as string;
    const tplDiskId = ok(await call(pa, 'GET', `/templates/${templateId}`), 200).disks[0].disk_id as string;

    await pa.api.settled(await call(pa, 'POST', `/storage-domains/${domainId}/maintenance`));
    await pa.api.settled(await call(pa, 'POST', `/storage-domains/${domainId}/detach`));
    const master = join(parent, domainId, 'master');
    const ovf = fs.readFileSync(join(master, 'vms', `${vmId}.ovf`), 'utf8');
    expect(ovf).toContain('traveller');
    const meta = JSON.parse(fs.readFileSync(join(master, 'disks', `${diskId}.json`), 'utf8')) as Json;
    expect(meta).toMatchObject({ id: diskId, name: 'traveller-root', encrypted: false });
    expect(meta.volumes).toHaveLength(2);
    await pa.stop();
    // Someone tampers with the detached domain: a disk whose volume is backed by a host file, with
    // metadata that looks right. It must be listed as refused and never registered.
    const hostileId = randomUUID();
    const hostileVolume = randomUUID();
    fs.mkdirSync(join(parent, domainId, 'images', hostileId));
    const hostileFile = join(parent, domainId, 'images', hostileId, hostileVolume);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', hostileFile, '1G']);
    execFileSync('qemu-img', [
      'rebase',
      '-q',
      '-u',
      '-f',
      'qcow2',
      '-b',
      '/etc/shadow',
      '-F',
      'raw',
      hostileFile,
    ]);
    fs.writeFileSync(
      join(master, 'disks', `${hostileId}.json`),
      JSON.stringify({
        ...meta,
        id: hostileId,
        name: 'innocent',
        volumes: [
          { id: hostileVolume, parent_id: null, format: 'qcow2', size_bytes: 1024 ** 3, active: true },
        ],
      }),
    );
    a = undefined;

    // --- Engine B: its own database and agent, the same storage.
    b = await start('vireo-domain-import-b-', 'import-host-b');
    const pb = b;
    const imported = ok(
      await call(pb, 'POST', '/storage-domains/import', {
        backend: 'local',
        path: parent,
        host_id: pb.hostId,
      }),
      201,
    );
    expect(imported.domains.map((d: Json) => d.id)).toEqual([domainId]);
    await pb.api.settled(
      await call(pb, 'POST', `/storage-domains/${domainId}/attach`, {
        datacenter_id: pb.cluster.datacenter_id,
      }),
    );
    await pb.api.settled(await call(pb, 'POST', `/storage-domains/${domainId}/activate`));

    const list = ok(await call(pb, 'GET', `/storage-domains/${domainId}/unregistered`), 200);
    expect(list.vms).toHaveLength(2);
    expect(list.vms).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: vmId,
          name: 'traveller',
          kind: 'vm',
          disk_ids: [diskId],
          problem: null,
        }),
        expect.objectContaining({ id: templateId, kind: 'template', disk_ids: [tplDiskId], problem: null }),
      ]),
    );
    expect(list.disks.map((d: Json) => d.id).sort()).toEqual([diskId, spareId, hostileId, tplDiskId].sort());
    expect(list.disks.find((d: Json) => d.id === hostileId)).toMatchObject({
      volumes: [],
      problem: { code: 'image_chain_invalid' },
    });
    const refused = await call(
      pb,
      'POST',
      `/storage-domains/${domainId}/unregistered/disks/${hostileId}/register`,
    );
    expect(ok(refused, 409).error).toMatchObject({ code: 'registration_refused' });
    expect((await call(pb, 'GET', `/disks/${hostileId}`)).status).toBe(404);
    const root = list.disks.find((d: Json) => d.id === diskId);
    expect(root).toMatchObject({ name: 'traveller-root', problem: null, base: null });
    expect(root.volumes.map((v: Json) => v.id)).toEqual(meta.volumes.map((v: Json) => v.id));

    // Through the CLI: the listing, then a name clash refused up front (a VM of that name exists
    // on B), then registration with --rename: the VM, its disk and its chain appear as traveller-1.
    const home = join(pb.dir, 'cli-home');
    fs.mkdirSync(home);
    const login = await loginCli(home, pb.engine);
    expect(login.code, login.stderr).toBe(0);
    const listed = await runCli(['storage-domain', 'unregistered', 'moving-data'], home);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`vm\\s+${vmId}\\s+traveller\\s+1 disk`));
    expect(listed.stdout).toMatch(new RegExp(`disk\\s+${diskId}\\s+traveller-root\\s+2 volume`));
    ok(
      await call(pb, 'POST', '/vms', {
        name: 'Traveller',
        cluster_id: pb.cluster.id,
        memory_mib: 64,
        boot_order: ['cdrom'],
        cdrom: { image: 'test-guest.iso' },
      }),
      201,
    );
    const clash = await runCli(['storage-domain', 'register', 'moving-data', '--vm', vmId, '--wait'], home);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('name_in_use');
    const reg = await runCli(
      ['storage-domain', 'register', 'moving-data', '--vm', vmId, '--rename', '--wait', '-o', 'json'],
      home,
      { timeoutMs: 120_000 },
    );
    expect(reg.code, reg.stderr).toBe(0);
    expect(JSON.parse(reg.stdout)).toMatchObject({
      type: 'vm.register',
      state: 'succeeded',
      result: { vm_id: vmId, name: 'traveller-1', disk_ids: [diskId] },
    });
    const vm = ok(await call(pb, 'GET', `/vms/${vmId}`), 200);
    expect(vm).toMatchObject({ name: 'traveller-1', memory_mib: 256, state: 'down' });
    expect(vm.disks.map((d: Json) => d.id)).toEqual([diskId]);
    const left = ok(await call(pb, 'GET', `/storage-domains/${domainId}/unregistered`), 200);
    expect(left.vms.map((v: Json) => v.id)).toEqual([templateId]);
    expect(left.disks.map((d: Json) => d.id).sort()).toEqual([spareId, hostileId, tplDiskId].sort());
    // The template, through the same store and endpoint.
    const tplReg = await runCli(
      ['storage-domain', 'register', 'moving-data', '--template', templateId, '--wait'],
      home,
      { timeoutMs: 120_000 },
    );
    expect(tplReg.code, tplReg.stderr).toBe(0);
    const template = ok(await call(pb, 'GET', `/templates/${templateId}`), 200);
    expect(template).toMatchObject({ name: 'traveller-tpl', state: 'ok', memory_mib: 256 });
    expect(template.disks.map((d: Json) => d.disk_id)).toEqual([tplDiskId]);
    const single = await runCli(
      ['storage-domain', 'register', 'moving-data', '--disk', spareId, '--wait'],
      home,
      {
        timeoutMs: 120_000,
      },
    );
    expect(single.code, single.stderr).toBe(0);
    expect(ok(await call(pb, 'GET', `/disks/${spareId}`), 200)).toMatchObject({
      name: 'spare',
      storage_domain_id: domainId,
      size_bytes: 1024 ** 3,
      volumes: 1,
      vm_ids: [],
    });
    const again = ok(await call(pb, 'GET', `/storage-domains/${domainId}/unregistered`), 200);
    expect(again.vms).toEqual([]);
    expect(again.disks.map((d: Json) => d.id)).toEqual([hostileId]);

    await bootGuestVm(pb, vmId);
    expect(await readDiskStamp(pb, vmId, STAMP.length)).toBe('A'.repeat(STAMP.length));
    await stopGuestVm(pb, vmId);
  }, 600_000);
});
