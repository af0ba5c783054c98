import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withNfs } from '../../packages/agent/src/storage/nfs/client';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import { bootGuestVm, createGuestVm, readDiskStamp, stopGuestVm, writeDiskStamp } from '../support/guest-vms';
import { startNfsServer, type TestNfsServer } from '../support/nfs-server';
import { type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const STAMP = 'vireo-nfs-export-stamp';

/** A minimal DMTF OVF as another tool writes it: one VMDK disk, one CPU, 64 MiB. */
function foreignOvf(name: string, diskFile: string): string {
  return `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:id="f1" ovf:href="${diskFile}"/></References>
  <DiskSection><Info>disks</Info>
    <Disk ovf:capacity="1048576" ovf:diskId="d1" ovf:fileRef="f1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="${name}"><Info>a VM</Info>
    <VirtualHardwareSection><Info>hardware</Info>
      <Item><rasd:ElementName>1 CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>memory</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>64</rasd:VirtualQuantity></Item>
      <Item><rasd:ElementName>sata0</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>disk1</rasd:ElementName><rasd:HostResource>/disk/d1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/**
 * Export, import and domain registration with nfs domains in userspace mode (ADR 027; forced, as
 * on a host without a kernel NFS client) against nfs-ganesha in a test network namespace. A VM
 * on a local data domain writes a stamp, goes to an nfs export domain as an OVA (streamed through
 * the agent's NFS client), is deleted, imported onto an nfs data domain and boots reading its stamp.
 * A hostile foreign OVA put on the export domain through an NFS client is refused with its code.
 * Then the nfs data domain is detached and imported by a second engine, which lists the VM and
 * disk found by scanning the domain over NFS and registers the disk.
 */
describe('exports and registration on userspace-mode nfs domains', () => {
  let server: TestNfsServer;
  let a: Platform | undefined;
  let b: Platform | undefined;
  const vmIds = new Set<string>();
  const savedMode = process.env.VIREO_AGENT_NFS_MODE;

  const start = (prefix: string, hostName: string) =>
    startPlatform({
      prefix,
      hostName,
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });

  beforeAll(async () => {
    assertTestGuestBuilt();
    server = await startNfsServer('nfsxe');
    process.env.VIREO_AGENT_NFS_MODE = 'userspace';
    a = await start('vireo-nfs-export-a-', 'nfs-export-a');
  }, 240_000);

  afterAll(async () => {
    await killQemusOf([...vmIds]);
    await a?.stop();
    await b?.stop();
    await server?.stop();
    if (savedMode === undefined) delete process.env.VIREO_AGENT_NFS_MODE;
    else process.env.VIREO_AGENT_NFS_MODE = savedMode;
  });

  const nfsDomain = async (p: Platform, name: string, kind: 'data' | 'export'): Promise<string> => {
    const created = await p.api.call('POST', '/storage-domains', {
      name,
      kind,
      backend: 'nfs',
      nfs_server: server.address,
      nfs_export: server.exportPath,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    await activate(p, id);
    return id;
  };
  const activate = async (p: Platform, id: string) => {
    await p.api.settled(
      await p.api.call('POST', `/storage-domains/${id}/attach`, { datacenter_id: p.cluster.datacenter_id }),
    );
    await p.api.settled(await p.api.call('POST', `/storage-domains/${id}/activate`, {}));
    await until(
      `${id} active`,
      async () => (await p.api.call('GET', `/storage-domains/${id}`)).json.state === 'active',
    );
  };

  it('OVA out to an nfs export domain, back onto an nfs data domain, boots; hostile OVA refused; registration by another engine', async () => {
    const pa = a as Platform;
    const { api } = pa;
    const expId = await nfsDomain(pa, 'nfs-exports', 'export');
    const dataId = await nfsDomain(pa, 'nfs-data', 'data');
    const local = await pa.addLocalDataDomain('local-data');

    // A VM on the local data domain writes its stamp.
    const vm = await createGuestVm(pa, { name: 'nfs-exp-vm', storageDomainId: local.id });
    const vmId = vm.id as string;
    const diskId = vm.disks[0].id as string;
    vmIds.add(vmId);
    await bootGuestVm(pa, vmId);
    await writeDiskStamp(pa, vmId, STAMP);
    await stopGuestVm(pa, vmId);

    // Export as one OVA: the tar lands on the export through the agent's NFS client.
    const exported = await api.settled(
      await api.call('POST', `/vms/${vmId}/export`, { storage_domain_id: expId, format: 'ova' }),
      180,
    );
    expect(exported.result).toMatchObject({ format: 'ova', ova_name: 'nfs-exp-vm' });
    const ovaFile = join(server.dir, expId, 'ova', 'nfs-exp-vm.ova');
    const members = execFileSync('tar', ['-tf', ovaFile], { encoding: 'utf8' }).trim().split('\n');
    expect(members).toEqual([
      'nfs-exp-vm.ovf',
      expect.stringMatching(new RegExp(`^${diskId}/[0-9a-f-]{36}$`)),
    ]);
    expect(fs.readdirSync(join(server.dir, expId, 'ova'))).toEqual(['nfs-exp-vm.ova']);
    const listed = (await api.call('GET', `/storage-domains/${expId}/exports`)).json;
    expect(listed.items).toEqual([
      expect.objectContaining({ id: vmId, kind: 'vm', name: 'nfs-exp-vm', format: 'ova' }),
    ]);

    // Delete it with its disk, import it from the OVA onto the nfs data domain: it boots with its stamp.
    await api.settled(await api.call('DELETE', `/vms/${vmId}`));
    const imported = await api.call('POST', `/storage-domains/${expId}/exports/${vmId}/import`, {
      cluster_id: pa.cluster.id,
      storage_domain_id: dataId,
      source: 'ova',
    });
    expect(imported.status, JSON.stringify(imported.json)).toBe(202);
    await api.settled(imported, 180);
    expect(fs.readdirSync(join(server.dir, dataId, 'images', diskId))).toHaveLength(1);
    const back = (await api.call('GET', `/vms/${vmId}`)).json;
    expect(back.disks).toEqual([expect.objectContaining({ id: diskId })]);
    expect((await api.call('GET', `/disks/${diskId}`)).json.storage_domain_id).toBe(dataId);
    await api.call('PATCH', `/vms/${vmId}`, { cdrom: { image: 'test-guest.iso' } }, { 'if-match': '*' });
    await bootGuestVm(pa, vmId);
    expect(await readDiskStamp(pa, vmId, STAMP.length)).toBe(STAMP);
    await stopGuestVm(pa, vmId);
    // The same name again: 409 name_in_use.
    const clash = await api.call('POST', `/storage-domains/${expId}/exports/${vmId}/import`, {
      cluster_id: pa.cluster.id,
      storage_domain_id: dataId,
      source: 'ova',
    });
    expect(clash.status).toBe(409);
    expect(clash.json.error.code).toBe('name_in_use');

    // OVF + images: the imported VM (its disk now on the nfs data domain) exported again, nfs to
    // nfs; the OVF goes under master/ through the NFS client, and the listing shows both exports.
    const ovfOut = await api.settled(
      await api.call('POST', `/vms/${vmId}/export`, { storage_domain_id: expId }),
      180,
    );
    expect(ovfOut.result).toMatchObject({ format: 'ovf', path: `master/vms/${vmId}/${vmId}.ovf` });
    expect(fs.readFileSync(join(server.dir, expId, 'master', 'vms', vmId, `${vmId}.ovf`), 'utf8')).toContain(
      '<ovf:Envelope',
    );
    expect(fs.readdirSync(join(server.dir, expId, 'images'))).toContain(diskId);
    const both = (await api.call('GET', `/storage-domains/${expId}/exports`)).json;
    expect(both.items.map((i: Json) => i.format).sort()).toEqual(['ova', 'ovf']);
    expect(both.invalid).toEqual([]);
    // Back from the OVF onto the local data domain under new ids (the image gate reads it over NFS).
    const copy = await api.call('POST', `/storage-domains/${expId}/exports/${vmId}/import`, {
      cluster_id: pa.cluster.id,
      storage_domain_id: local.id,
      source: 'ovf',
      on_clash: 'rename',
      new_ids: true,
    });
    expect(copy.status, JSON.stringify(copy.json)).toBe(202);
    vmIds.add(copy.json.id);
    await api.settled(copy, 180);
    expect(copy.json.name).toBe('nfs-exp-vm-1');
    const copyDisk = (await api.call('GET', `/vms/${copy.json.id}`)).json.disks[0].id as string;
    expect((await api.call('GET', `/disks/${copyDisk}`)).json).toMatchObject({
      storage_domain_id: local.id,
      state: 'ok',
    });

    // A foreign OVA whose VMDK names /etc/shadow, put on the export by an NFS client.
    const descriptor =
      '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "/etc/shadow" 0\n';
    const work = join(pa.dir, 'hostile');
    fs.mkdirSync(work);
    fs.writeFileSync(join(work, 'evil.vmdk'), descriptor);
    fs.writeFileSync(join(work, 'evil.ovf'), foreignOvf('evil', 'evil.vmdk'));
    execFileSync('tar', [
      '--format=ustar',
      '-cf',
      join(work, 'evil.ova'),
      '-C',
      work,
      'evil.ovf',
      'evil.vmdk',
    ]);
    await withNfs({ server: server.address, export: server.exportPath }, (c) =>
      c.writeFileAtomic(`${expId}/ova/evil.ova`, fs.readFileSync(join(work, 'evil.ova'))),
    );
    const entry = ((await api.call('GET', `/storage-domains/${expId}/exports`)).json.items as Json[]).find(
      (i) => i.ova_name === 'evil',
    ) as Json;
    expect(entry).toMatchObject({ origin: 'foreign', name: 'evil' });
    const disksBefore = fs.readdirSync(join(server.dir, dataId, 'images')).sort();
    const evil = await api.call('POST', `/storage-domains/${expId}/exports/${entry.id}/import`, {
      cluster_id: pa.cluster.id,
      storage_domain_id: dataId,
    });
    expect(evil.status, JSON.stringify(evil.json)).toBe(202);
    const op = await api.operationOf(evil, 120);
    expect(op.state).toBe('failed');
    expect(JSON.stringify(op.error)).toContain('image_external_extent');
    expect((await api.call('GET', `/vms/${evil.json.id}`)).status).toBe(404);
    expect(fs.readdirSync(join(server.dir, dataId, 'images')).sort()).toEqual(disksBefore);

    // Both nfs domains leave engine A (maintenance writes the VM's OVF under master/ over NFS).
    for (const id of [dataId, expId]) {
      await api.settled(await api.call('POST', `/storage-domains/${id}/maintenance`, {}));
      await api.settled(await api.call('POST', `/storage-domains/${id}/detach`, {}));
    }
    expect(fs.readFileSync(join(server.dir, dataId, 'master', 'vms', `${vmId}.ovf`), 'utf8')).toContain(
      'nfs-exp-vm',
    );
    vmIds.delete(vmId);
    await pa.stop();
    a = undefined;

    // Engine B imports it from the export and lists what it holds by scanning over NFS.
    b = await start('vireo-nfs-export-b-', 'nfs-export-b');
    const pb = b;
    const found = await pb.api.call('POST', '/storage-domains/import', {
      backend: 'nfs',
      nfs_server: server.address,
      nfs_export: server.exportPath,
    });
    expect(found.status, JSON.stringify(found.json)).toBe(201);
    expect(found.json.domains.map((d: Json) => d.id).sort()).toEqual([dataId, expId].sort());
    await activate(pb, dataId);
    const unregistered = await pb.api.call('GET', `/storage-domains/${dataId}/unregistered`);
    expect(unregistered.status, JSON.stringify(unregistered.json)).toBe(200);
    expect(unregistered.json.vms).toEqual([
      expect.objectContaining({ id: vmId, name: 'nfs-exp-vm', disk_ids: [diskId], problem: null }),
    ]);
    expect(unregistered.json.disks).toEqual([expect.objectContaining({ id: diskId, problem: null })]);
    await pb.api.settled(
      await pb.api.call('POST', `/storage-domains/${dataId}/unregistered/disks/${diskId}/register`),
    );
    expect((await pb.api.call('GET', `/disks/${diskId}`)).json).toMatchObject({
      storage_domain_id: dataId,
      volumes: 1,
    });
  }, 600_000);
});
