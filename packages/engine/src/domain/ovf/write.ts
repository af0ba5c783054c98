import { CIM_OS_ID, DISK_FORMAT_URI, NS, RESOURCE, VIREO_OVF_VERSION } from './names';
import { type OvfDisk, type OvfEntity, type OvfNic, ovfDiskHref } from './types';
import { xmlEscape } from './xml';

/** Characters XML 1.0 cannot carry at all (even escaped) become U+FFFD instead of a broken file. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what we replace
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

function esc(value: string | number | boolean): string {
  return xmlEscape(String(value).replace(NOT_XML_CHAR, '\uFFFD'));
}

function attrs(list: [string, string | number | boolean | null | undefined][]): string {
  return list
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(v as string | number | boolean)}"`)
    .join('');
}

/** rasd children must appear in the CIM schema's (alphabetical) order. */
function rasdItem(fields: [string, string | number | null | undefined][], indent: string): string {
  const sorted = fields.filter(([, v]) => v !== null && v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
  const inner = sorted
    .map(([k, v]) => `${indent}  <rasd:${k}>${esc(v as string | number)}</rasd:${k}>`)
    .join('\n');
  return `${indent}<ovf:Item>\n${inner}\n${indent}</ovf:Item>`;
}

function fileId(d: OvfDisk): string {
  return `file-${d.disk_id}`;
}

/**
 * Writes a DMTF OVF 1.x envelope for a VM or template: References (one File per disk image,
 * `href` = `<disk_id>/<volume_id>`), DiskSection, NetworkSection, one VirtualSystem with
 * OperatingSystemSection and VirtualHardwareSection (rasd items for CPU, memory, disks, CD-ROM,
 * NICs), and a `vireo:VireoSection` (ovf:required="false") with what OVF cannot say: ids, kind,
 * boot order, console, disk interface/format/volume, NIC kind, template version. Deterministic:
 * the same input gives the same bytes. {@link parseOvf} reads it back losslessly.
 */
export function writeOvf(entity: OvfEntity, disks: readonly OvfDisk[], nics: readonly OvfNic[]): string {
  const sortedDisks = [...disks].sort((a, b) => a.position - b.position);
  const networks = [...new Set(nics.map((n) => (n.type === 'bridge' ? n.bridge : 'user')))];
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<ovf:Envelope xmlns:ovf="${NS.ovf}" xmlns:rasd="${NS.rasd}" xmlns:vssd="${NS.vssd}" xmlns:xsi="${NS.xsi}" xmlns:vireo="${NS.vireo}" ovf:version="1.0">`,
  );
  out.push('  <ovf:References>');
  for (const d of sortedDisks) {
    out.push(
      `    <ovf:File${attrs([
        ['ovf:id', fileId(d)],
        ['ovf:href', ovfDiskHref(d)],
        ['ovf:size', d.file_bytes],
      ])}/>`,
    );
  }
  out.push('  </ovf:References>');
  out.push('  <ovf:DiskSection>');
  out.push('    <ovf:Info>Virtual disks</ovf:Info>');
  for (const d of sortedDisks) {
    out.push(
      `    <ovf:Disk${attrs([
        ['ovf:diskId', d.disk_id],
        ['ovf:fileRef', fileId(d)],
        ['ovf:capacity', d.size_bytes],
        ['ovf:capacityAllocationUnits', 'byte'],
        ['ovf:format', DISK_FORMAT_URI[d.format]],
      ])}/>`,
    );
  }
  out.push('  </ovf:DiskSection>');
  out.push('  <ovf:NetworkSection>');
  out.push('    <ovf:Info>Networks the NICs connect to</ovf:Info>');
  for (const n of networks) {
    const what = n === 'user' ? 'User-mode networking' : `Linux bridge ${n}`;
    out.push(`    <ovf:Network${attrs([['ovf:name', n]])}>`);
    out.push(`      <ovf:Description>${esc(what)}</ovf:Description>`);
    out.push('    </ovf:Network>');
  }
  out.push('  </ovf:NetworkSection>');
  out.push(`  <ovf:VirtualSystem${attrs([['ovf:id', entity.id]])}>`);
  out.push(`    <ovf:Info>${entity.kind === 'vm' ? 'A virtual machine' : 'A template'}</ovf:Info>`);
  out.push(`    <ovf:Name>${esc(entity.name)}</ovf:Name>`);
  out.push(`    <ovf:OperatingSystemSection${attrs([['ovf:id', CIM_OS_ID[entity.os_type] ?? 1]])}>`);
  out.push('      <ovf:Info>Guest operating system</ovf:Info>');
  out.push(`      <ovf:Description>${esc(entity.os_type)}</ovf:Description>`);
  out.push('    </ovf:OperatingSystemSection>');
  out.push('    <ovf:VirtualHardwareSection>');
  out.push('      <ovf:Info>Virtual hardware</ovf:Info>');
  out.push('      <ovf:System>');
  out.push('        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>');
  out.push('        <vssd:InstanceID>0</vssd:InstanceID>');
  out.push(`        <vssd:VirtualSystemIdentifier>${esc(entity.name)}</vssd:VirtualSystemIdentifier>`);
  out.push('        <vssd:VirtualSystemType>vireo-qemu</vssd:VirtualSystemType>');
  out.push('      </ovf:System>');
  const ind = '      ';
  let instance = 1;
  out.push(
    rasdItem(
      [
        ['AllocationUnits', 'hertz * 10^6'],
        ['Description', 'Number of virtual CPUs'],
        ['ElementName', `${entity.cpus} virtual CPU(s)`],
        ['InstanceID', instance++],
        ['ResourceType', RESOURCE.cpu],
        ['VirtualQuantity', entity.cpus],
      ],
      ind,
    ),
  );
  out.push(
    rasdItem(
      [
        ['AllocationUnits', 'byte * 2^20'],
        ['Description', 'Memory size'],
        ['ElementName', `${entity.memory_mib} MiB of memory`],
        ['InstanceID', instance++],
        ['ResourceType', RESOURCE.memory],
        ['VirtualQuantity', entity.memory_mib],
      ],
      ind,
    ),
  );
  for (const d of sortedDisks) {
    out.push(
      rasdItem(
        [
          ['AddressOnParent', d.position],
          ['Description', d.description || null],
          ['ElementName', d.name],
          ['HostResource', `ovf:/disk/${d.disk_id}`],
          ['InstanceID', instance++],
          ['ResourceType', RESOURCE.disk],
        ],
        ind,
      ),
    );
  }
  if (entity.cdrom) {
    const file = 'file' in entity.cdrom ? entity.cdrom.file : entity.cdrom.image;
    out.push(
      rasdItem(
        [
          ['Description', file],
          ['ElementName', 'CD-ROM'],
          ['InstanceID', instance++],
          ['ResourceType', RESOURCE.cdrom],
        ],
        ind,
      ),
    );
  }
  for (const [i, n] of nics.entries()) {
    out.push(
      rasdItem(
        [
          ['Address', n.mac],
          ['Connection', n.type === 'bridge' ? n.bridge : 'user'],
          ['ElementName', `nic${i + 1}`],
          ['InstanceID', instance++],
          ['ResourceSubType', n.model],
          ['ResourceType', RESOURCE.nic],
        ],
        ind,
      ),
    );
  }
  out.push('    </ovf:VirtualHardwareSection>');
  out.push(`    <vireo:VireoSection ovf:required="false"${attrs([['vireo:version', VIREO_OVF_VERSION]])}>`);
  out.push('      <ovf:Info>Vireo settings that OVF cannot express</ovf:Info>');
  out.push(
    `      <vireo:Entity${attrs([
      ['vireo:kind', entity.kind],
      ['vireo:id', entity.id],
      ['vireo:osType', entity.os_type],
      ['vireo:console', entity.console],
      ['vireo:createdAt', entity.created_at],
    ])}/>`,
  );
  out.push(`      <vireo:Description>${esc(entity.description)}</vireo:Description>`);
  out.push('      <vireo:BootOrder>');
  for (const b of entity.boot_order) out.push(`        <vireo:Device>${esc(b)}</vireo:Device>`);
  out.push('      </vireo:BootOrder>');
  if (entity.template) {
    out.push(
      `      <vireo:Template${attrs([
        ['vireo:versionOf', entity.template.version_of],
        ['vireo:versionNumber', entity.template.version_number],
      ])}/>`,
    );
  }
  if (entity.cdrom) {
    out.push(
      'file' in entity.cdrom
        ? `      <vireo:Cdrom${attrs([
            ['vireo:storageDomainId', entity.cdrom.storage_domain_id],
            ['vireo:file', entity.cdrom.file],
          ])}/>`
        : `      <vireo:Cdrom${attrs([['vireo:image', entity.cdrom.image]])}/>`,
    );
  }
  for (const d of sortedDisks) {
    out.push(
      `      <vireo:Disk${attrs([
        ['vireo:diskId', d.disk_id],
        ['vireo:volumeId', d.volume_id],
        ['vireo:format', d.format],
        ['vireo:interface', d.interface],
        ['vireo:bootable', d.bootable],
        ...(d.encrypted ? [['vireo:encrypted', true] as [string, boolean]] : []),
      ])}/>`,
    );
  }
  for (const n of nics) {
    out.push(`      <vireo:Nic${attrs([['vireo:type', n.type]])}/>`);
  }
  out.push('    </vireo:VireoSection>');
  out.push('  </ovf:VirtualSystem>');
  out.push('</ovf:Envelope>');
  return `${out.join('\n')}\n`;
}
