import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VireoError } from '../../errors';
import { foreignUuid, parseExportOvf, parseForeignOvf } from './index';
import { writeOvf } from './write';
import { vmDisks, vmEntity, vmNics } from './fixtures.test-support';

const dir = join(import.meta.dirname, 'testdata');
const read = (name: string) => readFileSync(join(dir, name), 'utf8');

/** Set VIREO_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change (then review the diff). */
function golden(name: string, actual: unknown): unknown {
  const path = join(dir, name);
  if (process.env.VIREO_UPDATE_GOLDEN === '1') writeFileSync(path, `${JSON.stringify(actual, null, 2)}\n`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VireoError);
    expect((err as VireoError).code).toBe('ovf_invalid');
    return String((err as VireoError).details.reason);
  }
  throw new Error('expected ovf_invalid');
}

/** A small DMTF OVF 1.x envelope without a Vireo section; `hw` and `disks` replace the defaults. */
function envelope(
  opts: { files?: string; disks?: string; hw?: string; extra?: string; root?: string } = {},
): string {
  const ns = opts.root ?? 'http://schemas.dmtf.org/ovf/envelope/1';
  return `<?xml version="1.0"?>
<Envelope xmlns="${ns}" xmlns:ovf="${ns}" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>${opts.files ?? '<File ovf:id="f1" ovf:href="disk1.vmdk"/>'}</References>
  <DiskSection><Info>disks</Info>${
    opts.disks ??
    '<Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>'
  }</DiskSection>
  <VirtualSystem ovf:id="small">
    <Info>vm</Info>${opts.extra ?? ''}
    <VirtualHardwareSection><Info>hw</Info>${
      opts.hw ??
      `<Item><rasd:ElementName>cpu</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>mem</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>
      <Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>`
    }</VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`;
}

describe('foreign OVF (VirtualBox, VMware, DMTF 2.x)', () => {
  it('maps an OVF written the way VirtualBox writes it', () => {
    const parsed = parseForeignOvf(read('foreign-virtualbox.ovf'), 'ova:debian-web');
    expect(parsed).toEqual(golden('foreign-virtualbox.json', parsed));
    expect(parsed.doc).toMatchObject({
      kind: 'vm',
      name: 'Debian-Web',
      cpus: 2,
      memory_mib: 1024,
      os_type: 'debian',
    });
    expect(parsed.doc.disks).toEqual([
      expect.objectContaining({ size_bytes: 10 * 1024 ** 3, interface: 'sata', bootable: true }),
    ]);
    expect(parsed.sources).toEqual([
      expect.objectContaining({ href: 'Debian Web-disk001.vmdk', format: 'vmdk' }),
    ]);
    expect(parsed.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('sound card'),
        expect.stringContaining('CD-ROM drive'),
        expect.stringContaining('section Machine skipped'),
      ]),
    );
  });

  it('maps an OVF written the way VMware writes it (units, SCSI, vmxnet3, EFI hint)', () => {
    const parsed = parseForeignOvf(read('foreign-vmware.ovf'), 'ova:app01');
    expect(parsed).toEqual(golden('foreign-vmware.json', parsed));
    expect(parsed.doc).toMatchObject({ name: 'app01', cpus: 4, memory_mib: 8192, os_type: 'rhel' });
    expect(parsed.doc.description).toBe('Application server, exported for the move');
    expect(parsed.doc.disks.map((d) => [d.size_bytes, d.interface, d.bootable])).toEqual([
      [40 * 1024 ** 3, 'scsi', true],
      [512 * 1024 ** 2, 'scsi', false],
    ]);
    expect(parsed.doc.nics).toEqual([expect.objectContaining({ type: 'user', model: 'e1000' })]);
    expect(parsed.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('VmxNet3'),
        expect.stringContaining('EFI'),
        expect.stringContaining('graphics controller'),
      ]),
    );
  });

  it('maps an OVA OVF written the way oVirt writes it (GiB capacity, disk interface and boot on the Disk)', () => {
    const parsed = parseForeignOvf(read('foreign-ovirt.ovf'), 'ova:db01');
    expect(parsed).toEqual(golden('foreign-ovirt.json', parsed));
    expect(parsed.doc).toMatchObject({ name: 'db01', cpus: 2, memory_mib: 4096, os_type: 'rhel' });
    expect(parsed.doc.disks).toEqual([
      expect.objectContaining({ size_bytes: 20 * 1024 ** 3, interface: 'scsi', bootable: true }),
    ]);
    expect(parsed.sources).toEqual([
      expect.objectContaining({ href: '9b0d6a52-1c3e-4f7a-8d21-5e6f7a8b9c0d', format: 'qcow2' }),
    ]);
    expect(parsed.doc.nics).toEqual([expect.objectContaining({ model: 'virtio' })]);
    expect(parsed.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^settings skipped: Name|^settings skipped: .*CreationDate/),
        expect.stringContaining('USB controller'),
        expect.stringContaining('CD-ROM drive'),
        'controller Graphical Controller skipped (no disk on it)',
      ]),
    );
  });

  it('derives stable ids from the export key, different per key', () => {
    const a = parseForeignOvf(envelope(), 'ova:a');
    expect(parseForeignOvf(envelope(), 'ova:a').doc.id).toBe(a.doc.id);
    expect(parseForeignOvf(envelope(), 'ova:b').doc.id).not.toBe(a.doc.id);
    expect(a.doc.id).toBe(foreignUuid('ova:a'));
    expect(a.doc.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('reads a DMTF 2.x envelope with StorageItem and EthernetPortItem', () => {
    const ns2 = 'http://schemas.dmtf.org/ovf/envelope/2';
    const text = envelope({
      root: ns2,
      hw: `<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <StorageItem xmlns:sasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData"><sasd:ElementName>root</sasd:ElementName><sasd:HostResource>ovf:/disk/d1</sasd:HostResource><sasd:InstanceID>3</sasd:InstanceID><sasd:ResourceType>17</sasd:ResourceType></StorageItem>
      <EthernetPortItem xmlns:epasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData"><epasd:ElementName>eth0</epasd:ElementName><epasd:InstanceID>4</epasd:InstanceID><epasd:ResourceSubType>virtio</epasd:ResourceSubType><epasd:ResourceType>10</epasd:ResourceType></EthernetPortItem>`,
    });
    const { doc, sources } = parseForeignOvf(text, 'ova:two');
    expect(doc).toMatchObject({ cpus: 2, memory_mib: 2048, nics: [{ type: 'user', model: 'virtio' }] });
    expect(doc.disks[0]).toMatchObject({ name: 'root', interface: 'virtio', size_bytes: 1024 ** 3 });
    expect(sources).toEqual([
      { disk_id: doc.disks[0]?.disk_id, href: 'disk1.vmdk', format: 'vmdk', file_bytes: null },
    ]);
  });

  it('accepts qcow2 and raw images by their ovf:format URIs', () => {
    const qcow = envelope({
      disks:
        '<Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1048576" ovf:format="http://www.gnome.org/~markmc/qcow-image-format.html"/>',
    });
    expect(parseForeignOvf(qcow, 'k').sources[0]?.format).toBe('qcow2');
    const raw = envelope({
      disks:
        '<Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1048576" ovf:format="http://en.wikipedia.org/wiki/Byte"/>',
    });
    expect(parseForeignOvf(raw, 'k').sources[0]?.format).toBe('raw');
  });

  it('routes by the Vireo section: ours stays lossless, others are foreign', () => {
    const ours = parseExportOvf(writeOvf(vmEntity, vmDisks, vmNics), 'ova:x');
    expect(ours.origin).toBe('vireo');
    expect(ours.doc).toEqual({ ...vmEntity, disks: vmDisks, nics: vmNics });
    expect(parseExportOvf(envelope(), 'ova:x').origin).toBe('foreign');
  });
});

describe('foreign OVF: hostile input is refused with a reason', () => {
  it.each([
    [
      'a DTD with entities',
      `<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/shadow">]>${envelope().replace('<?xml version="1.0"?>', '')}`,
      'DOCTYPE',
    ],
    [
      'a huge capacity',
      envelope({
        disks:
          '<Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="9007199254740991" ovf:capacityAllocationUnits="byte * 2^30" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>',
      }),
      'larger than',
    ],
    [
      'a capacity of 2^64',
      envelope({
        disks:
          '<Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="18446744073709551616" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>',
      }),
      'outside',
    ],
    [
      'a path as file href',
      envelope({ files: '<File ovf:id="f1" ovf:href="../../../etc/shadow"/>' }),
      'plain file name',
    ],
    [
      'a URL as file href',
      envelope({ files: '<File ovf:id="f1" ovf:href="http://example.invalid/disk.vmdk"/>' }),
      'plain file name',
    ],
    [
      'an unknown disk format',
      envelope({
        disks:
          '<Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1" ovf:format="http://www.microsoft.com/vhd"/>',
      }),
      'not supported',
    ],
    [
      'a compressed file',
      envelope({ files: '<File ovf:id="f1" ovf:href="disk1.vmdk" ovf:compression="gzip"/>' }),
      'compression',
    ],
    [
      'a required section we do not know',
      envelope({
        extra: '<x:Odd xmlns:x="urn:x" xmlns:o="http://schemas.dmtf.org/ovf/envelope/1" o:required="true"/>',
      }),
      'required',
    ],
    [
      'no CPU item',
      envelope({
        hw: '<Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>',
      }),
      'CPU',
    ],
    [
      '65 CPUs',
      envelope().replace(
        '<rasd:VirtualQuantity>1</rasd:VirtualQuantity>',
        '<rasd:VirtualQuantity>65</rasd:VirtualQuantity>',
      ),
      'CPUs',
    ],
    ['memory in odd units', envelope().replace('byte * 2^20', 'hertz * 10^6'), 'units'],
    [
      'a disk item naming no declared disk',
      envelope().replace('ovf:/disk/d1', 'ovf:/disk/nope'),
      'DiskSection lacks',
    ],
    ['not an OVF envelope', '<Envelope xmlns="urn:other"/>', 'not an OVF Envelope'],
    [
      'two VirtualSystems',
      envelope().replace(/<VirtualSystem[\s\S]*<\/VirtualSystem>/, (m) => m + m),
      'exactly one VirtualSystem',
    ],
  ])('%s', (_what, text, reason) => {
    expect(reasonOf(() => parseExportOvf(text, 'ova:bad'))).toContain(reason);
  });

  it('caps the warnings of an OVF full of unknown items', () => {
    const junk = Array.from(
      { length: 300 },
      (_, i) =>
        `<Item><rasd:ElementName>${'x'.repeat(500)}</rasd:ElementName><rasd:InstanceID>${i + 10}</rasd:InstanceID><rasd:ResourceType>31</rasd:ResourceType></Item>`,
    ).join('');
    const { warnings } = parseForeignOvf(
      envelope().replace('</VirtualHardwareSection>', `${junk}</VirtualHardwareSection>`),
      'k',
    );
    expect(warnings).toHaveLength(50);
    expect(warnings.at(-1)).toBe('and 252 more entries skipped');
    expect(Math.max(...warnings.map((w) => w.length))).toBeLessThan(200);
  });

  it('lists what it skipped instead of dropping it silently', () => {
    const { warnings } = parseForeignOvf(
      envelope({
        hw: `<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
        <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>
        <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>
        <Item><rasd:ElementName>gpu</rasd:ElementName><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>31</rasd:ResourceType></Item>`,
      }),
      'k',
    );
    expect(warnings).toEqual([
      'disk d1: no known controller, attached as virtio',
      'unknown hardware item gpu (ResourceType 31) skipped',
    ]);
  });
});
