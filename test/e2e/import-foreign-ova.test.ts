import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import { loginCli, runCli } from '../cli/support/cli';
import { bootGuestVm, stopGuestVm } from '../support/guest-vms';
import { type Json, type Platform, startPlatform } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/**
 * A DMTF OVF the way VirtualBox writes one (no Vireo section): SATA disk as a streamOptimized VMDK,
 * an E1000 NIC on a network named "NAT", a sound card and a CD-ROM (both skipped with warnings).
 */
function foreignOvf(opts: {
  name: string;
  cpus: number;
  memoryMib: number;
  diskFile: string;
  capacity: number;
}): string {
  return `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References>
    <File ovf:id="file1" ovf:href="${opts.diskFile}"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks</Info>
    <Disk ovf:capacity="${opts.capacity}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks</Info>
    <Network ovf:name="NAT"><Description>NAT network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${opts.name}">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="96"><Info>guest OS</Info><Description>Debian_64</Description></OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item><rasd:ElementName>${opts.cpus} virtual CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>${opts.cpus}</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>${opts.memoryMib} MB of memory</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>${opts.memoryMib}</rasd:VirtualQuantity></Item>
      <Item><rasd:ElementName>ideController0</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>PIIX4</rasd:ResourceSubType><rasd:ResourceType>5</rasd:ResourceType></Item>
      <Item><rasd:ElementName>sataController0</rasd:ElementName><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:Connection>NAT</rasd:Connection><rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <Item><rasd:ElementName>sound</rasd:ElementName><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceSubType>ensoniq1371</rasd:ResourceSubType><rasd:ResourceType>35</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>disk1</rasd:ElementName><rasd:HostResource>/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>7</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>cdrom1</rasd:ElementName><rasd:InstanceID>8</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/**
 * Importing an OVA another tool wrote, end to end: real engine and agent binaries, real qemu-img and
 * QEMU (TCG). The test guest's disk becomes a streamOptimized VMDK inside a foreign-style OVA (the OVF
 * first, a manifest last) copied into the export domain's `ova/` directory; it is listed as
 * `origin: foreign` with its warnings, imported (converted to qcow2), and the VM boots the guest
 * with the OVF's CPUs and memory. A hostile OVA (a VMDK descriptor naming /etc/shadow) fails its
 * import with a code and leaves no VM behind.
 */
describe('import of a foreign OVA (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  const data = { id: '', parent: '' };
  const exp = { id: '', parent: '' };
  const vmIds = new Set<string>();
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);

  /** Writes `members` (files in `from`, the OVF first) as a ustar OVA into the export domain. */
  const placeOva = (name: string, from: string, members: string[]) => {
    const dir = join(exp.parent, exp.id, 'ova');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['--format=ustar', '-cf', join(dir, `${name}.ova`), '-C', from, ...members]);
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({ prefix: 'vireo-foreign-ova-', hostName: 'foreign-host' });
    Object.assign(data, await platform.addLocalDataDomain('foreign-data'));
    Object.assign(exp, await platform.addLocalDomain('exports', 'export'));
  }, 180_000);

  afterAll(async () => {
    await killQemusOf([...vmIds]);
    await platform?.stop();
  });

  it('lists a VirtualBox-style OVA as foreign, imports it and boots the guest with its CPUs and memory', async () => {
    const p = platform as Platform;
    const work = join(p.dir, 'foreign-work');
    fs.mkdirSync(work);
    const disk = 'Guest Box-disk001.vmdk';
    execFileSync('qemu-img', [
      'convert',
      '-f',
      'qcow2',
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized',
      testGuest.qcow2,
      join(work, disk),
    ]);
    const capacity = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', testGuest.qcow2], { encoding: 'utf8' }),
    )['virtual-size'] as number;
    fs.writeFileSync(
      join(work, 'Guest Box.ovf'),
      foreignOvf({ name: 'Guest Box', cpus: 2, memoryMib: 192, diskFile: disk, capacity }),
    );
    fs.writeFileSync(join(work, 'Guest Box.mf'), 'SHA256(Guest Box.ovf)= 00\n');
    placeOva('guest-box', work, ['Guest Box.ovf', disk, 'Guest Box.mf']);

    const listed = await call('GET', `/storage-domains/${exp.id}/exports`);
    expect(listed.status, JSON.stringify(listed.json)).toBe(200);
    expect(listed.json.invalid).toEqual([]);
    const entry = (listed.json.items as Json[]).find((i) => i.ova_name === 'guest-box') as Json;
    expect(entry).toMatchObject({
      kind: 'vm',
      name: 'Guest-Box',
      format: 'ova',
      origin: 'foreign',
      cpus: 2,
      memory_mib: 192,
      os_type: 'debian',
      nic_count: 1,
      disks: [
        expect.objectContaining({ format: 'vmdk', interface: 'sata', size_bytes: capacity, bootable: true }),
      ],
    });
    expect(entry.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('sound card'),
        expect.stringContaining('CD-ROM drive'),
        expect.stringContaining('Guest Box.mf not verified'),
      ]),
    );

    // The CLI shows the origin and the warnings too.
    const home = join(p.dir, 'cli-home');
    fs.mkdirSync(home);
    const login = await loginCli(home, p.engine);
    expect(login.code, login.stderr).toBe(0);
    const cliList = await runCli(['export', 'list', 'exports'], home, { timeoutMs: 120_000 });
    expect(cliList.code, cliList.stderr).toBe(0);
    expect(cliList.stdout).toMatch(new RegExp(`vm\\s+Guest-Box\\s+${entry.id}\\s+ova\\s+1\\s.*foreign`));
    expect(cliList.stderr).toContain('Guest-Box: sound card sound skipped');

    const imported = await call('POST', `/storage-domains/${exp.id}/exports/${entry.id}/import`, {
      cluster_id: p.cluster.id,
      storage_domain_id: data.id,
    });
    expect(imported.status, JSON.stringify(imported.json)).toBe(202);
    const vmId = imported.json.id as string;
    vmIds.add(vmId);
    const op = await p.api.settled(imported, 300);
    expect(op.result.warnings).toEqual(entry.warnings);
    const vm = (await call('GET', `/vms/${vmId}`)).json;
    expect(vm).toMatchObject({ name: 'Guest-Box', cpus: 2, memory_mib: 192 });
    expect(vm.nics).toEqual([expect.objectContaining({ type: 'user', model: 'e1000' })]);
    expect(vm.disks).toEqual([expect.objectContaining({ interface: 'sata', bootable: true })]);
    // The disk is a qcow2 volume on the data domain now, whole and without a backing file.
    const volumeDir = join(data.parent, data.id, 'images', vm.disks[0].id);
    const [volume] = fs.readdirSync(volumeDir);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', '-f', 'qcow2', join(volumeDir, volume as string)], {
        encoding: 'utf8',
      }),
    );
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': capacity });
    expect(info['backing-filename']).toBeUndefined();

    await bootGuestVm(p, vmId);
    // QEMU runs with the OVF's CPUs and memory.
    const [pid] = await qemuPidsFor(vmId);
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(argv[argv.indexOf('-m') + 1]).toMatch(/^(size=)?192(M)?\b/);
    expect(argv[argv.indexOf('-smp') + 1]).toMatch(/^(cpus=)?2\b/);
    await stopGuestVm(p, vmId);
  }, 600_000);

  it('fails the import of an OVA whose VMDK is a descriptor naming /etc/shadow, leaving nothing', async () => {
    const p = platform as Platform;
    const work = join(p.dir, 'hostile-work');
    fs.mkdirSync(work);
    fs.writeFileSync(
      join(work, 'evil.vmdk'),
      '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "/etc/shadow" 0\n',
    );
    fs.writeFileSync(
      join(work, 'evil.ovf'),
      foreignOvf({ name: 'evil', cpus: 1, memoryMib: 64, diskFile: 'evil.vmdk', capacity: 1048576 }),
    );
    placeOva('evil', work, ['evil.ovf', 'evil.vmdk']);
    const entry = ((await call('GET', `/storage-domains/${exp.id}/exports`)).json.items as Json[]).find(
      (i) => i.ova_name === 'evil',
    ) as Json;
    expect(entry).toMatchObject({ origin: 'foreign', name: 'evil' });
    const imported = await call('POST', `/storage-domains/${exp.id}/exports/${entry.id}/import`, {
      cluster_id: p.cluster.id,
      storage_domain_id: data.id,
    });
    expect(imported.status, JSON.stringify(imported.json)).toBe(202);
    const op = await p.api.operationOf(imported, 120);
    expect(op.state).toBe('failed');
    // The agent's refusal code travels with the operation's error.
    expect(JSON.stringify(op.error), JSON.stringify(op.error)).toContain('image_external_extent');
    expect((await call('GET', `/vms/${imported.json.id}`)).status).toBe(404);
    const volumes = fs.readdirSync(join(data.parent, data.id, 'images'));
    const vms = (await call('GET', '/vms')).json.items as Json[];
    // Only the first test's VM and its one disk remain.
    expect(vms.map((v) => v.name)).toEqual(['Guest-Box']);
    expect(volumes).toHaveLength(1);
  }, 180_000);
});
