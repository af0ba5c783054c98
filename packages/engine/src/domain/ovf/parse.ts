import { InvalidInput } from '../../errors';
import { DISK_FORMAT_URI, NS, RESOURCE, VIREO_OVF_VERSION } from './names';
import {
  OVF_BOOT_DEVICES,
  OVF_DISK_INTERFACES,
  OVF_LIMITS,
  OVF_NIC_MODELS,
  OVF_OS_TYPES,
  type OvfCdrom,
  type OvfDisk,
  type OvfDocument,
  type OvfNic,
  ovfDiskHref,
} from './types';
import { type XmlElement, XmlRefused, parseXmlTree } from './xml';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/;
const DIGITS = /^[0-9]{1,16}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** One refusal reason; turned into `400 ovf_invalid` with the reason in the message and details. */
class Bad extends Error {}

function bad(reason: string): never {
  throw new Bad(reason);
}

const q = (uri: string, local: string): string => `{${uri}}${local}`;

function children(el: XmlElement, uri: string, local: string): XmlElement[] {
  return el.children.filter((c) => c.uri === uri && c.local === local);
}

function one(el: XmlElement, uri: string, local: string, where: string): XmlElement {
  const found = children(el, uri, local);
  if (found.length !== 1) bad(`${where} must have exactly one ${local} (found ${found.length})`);
  return found[0] as XmlElement;
}

function optionalOne(el: XmlElement, uri: string, local: string, where: string): XmlElement | undefined {
  const found = children(el, uri, local);
  if (found.length > 1) bad(`${where} has more than one ${local}`);
  return found[0];
}

function attr(el: XmlElement, uri: string, local: string, where: string): string {
  const v = el.attrs.get(q(uri, local));
  if (v === undefined) bad(`${where} lacks the ${local} attribute`);
  return v;
}

function optionalAttr(el: XmlElement, uri: string, local: string): string | undefined {
  return el.attrs.get(q(uri, local));
}

function match(value: string, re: RegExp, what: string): string {
  if (!re.test(value)) bad(`${what} ${JSON.stringify(value.slice(0, 80))} is not valid`);
  return value;
}

function uuid(value: string, what: string): string {
  return match(value.toLowerCase(), UUID, what);
}

function int(value: string, what: string, min: number, max: number): number {
  const t = value.trim();
  if (!DIGITS.test(t)) bad(`${what} ${JSON.stringify(t.slice(0, 40))} is not a whole number`);
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min || n > max) bad(`${what} ${n} is outside ${min}–${max}`);
  return n;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value))
    bad(`${what} ${JSON.stringify(value.slice(0, 40))} is not one of ${allowed.join(', ')}`);
  return value as T;
}

function bool(value: string, what: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return bad(`${what} must be true or false`);
}

function description(text: string, what: string): string {
  if (text.length > OVF_LIMITS.maxDescription)
    bad(`${what} is longer than ${OVF_LIMITS.maxDescription} characters`);
  return text;
}

interface RasdItem {
  type: number;
  fields: Map<string, string>;
}

function rasdItems(hw: XmlElement): RasdItem[] {
  return children(hw, NS.ovf, 'Item').map((item) => {
    const fields = new Map<string, string>();
    for (const c of item.children) {
      if (c.uri !== NS.rasd) continue;
      if (fields.has(c.local)) bad(`a hardware item repeats rasd:${c.local}`);
      fields.set(c.local, c.text.trim());
    }
    const type = int(
      fields.get('ResourceType') ?? bad('a hardware item has no rasd:ResourceType'),
      'rasd:ResourceType',
      0,
      65535,
    );
    return { type, fields };
  });
}

function field(item: RasdItem, name: string, what: string): string {
  return item.fields.get(name) ?? bad(`${what} has no rasd:${name}`);
}

function singleItem(items: RasdItem[], type: number, what: string): RasdItem {
  const found = items.filter((i) => i.type === type);
  if (found.length !== 1) bad(`the hardware must have exactly one ${what} item (found ${found.length})`);
  return found[0] as RasdItem;
}

function parseDocument(root: XmlElement): OvfDocument {
  if (root.uri !== NS.ovf || root.local !== 'Envelope') bad('the root element is not an OVF Envelope');
  const refs = one(root, NS.ovf, 'References', 'Envelope');
  const files = new Map<string, { href: string; size: number | null }>();
  for (const f of children(refs, NS.ovf, 'File')) {
    const id = attr(f, NS.ovf, 'id', 'File');
    if (files.has(id)) bad(`File id ${JSON.stringify(id.slice(0, 80))} is repeated`);
    const size = optionalAttr(f, NS.ovf, 'size');
    files.set(id, {
      href: attr(f, NS.ovf, 'href', 'File'),
      size: size === undefined ? null : int(size, 'File size', 0, Number.MAX_SAFE_INTEGER),
    });
  }
  if (files.size > OVF_LIMITS.maxDisks) bad(`more than ${OVF_LIMITS.maxDisks} files`);
  const diskSection = one(root, NS.ovf, 'DiskSection', 'Envelope');
  const diskDecls = children(diskSection, NS.ovf, 'Disk');
  if (diskDecls.length > OVF_LIMITS.maxDisks) bad(`more than ${OVF_LIMITS.maxDisks} disks`);
  const systems = children(root, NS.ovf, 'VirtualSystem');
  if (systems.length !== 1) bad(`exactly one VirtualSystem is supported (found ${systems.length})`);
  const vs = systems[0] as XmlElement;
  const hw = one(vs, NS.ovf, 'VirtualHardwareSection', 'VirtualSystem');
  const items = rasdItems(hw);
  const vireo =
    optionalOne(vs, NS.vireo, 'VireoSection', 'VirtualSystem') ??
    bad('no vireo:VireoSection: only OVF files written by Vireo can be imported');
  const version = int(attr(vireo, NS.vireo, 'version', 'VireoSection'), 'VireoSection version', 1, 1_000_000);
  if (version > VIREO_OVF_VERSION)
    bad(`VireoSection version ${version} is newer than this engine reads (${VIREO_OVF_VERSION})`);

  const ent = one(vireo, NS.vireo, 'Entity', 'VireoSection');
  const kind = oneOf(attr(ent, NS.vireo, 'kind', 'Entity'), ['vm', 'template'] as const, 'kind');
  const id = uuid(attr(ent, NS.vireo, 'id', 'Entity'), 'id');
  const systemId = attr(vs, NS.ovf, 'id', 'VirtualSystem').toLowerCase();
  if (systemId !== id) bad('VirtualSystem id and the Vireo entity id differ');
  const name = match(one(vs, NS.ovf, 'Name', 'VirtualSystem').text.trim(), NAME, 'name');
  const osType = oneOf(attr(ent, NS.vireo, 'osType', 'Entity'), OVF_OS_TYPES, 'os type');
  const consoleType = oneOf(attr(ent, NS.vireo, 'console', 'Entity'), ['vnc', 'serial'] as const, 'console');
  const createdRaw = optionalAttr(ent, NS.vireo, 'createdAt');
  const createdAt = createdRaw === undefined ? null : match(createdRaw, RFC3339, 'createdAt');
  const desc = description(
    optionalOne(vireo, NS.vireo, 'Description', 'VireoSection')?.text ?? '',
    'description',
  );

  const bootEl = one(vireo, NS.vireo, 'BootOrder', 'VireoSection');
  const boot = children(bootEl, NS.vireo, 'Device').map((d) =>
    oneOf(d.text.trim(), OVF_BOOT_DEVICES, 'boot device'),
  );
  if (boot.length === 0 || boot.length > OVF_BOOT_DEVICES.length || new Set(boot).size !== boot.length) {
    bad('boot order must name 1–3 distinct devices');
  }

  const tplEl = optionalOne(vireo, NS.vireo, 'Template', 'VireoSection');
  if (kind === 'template' && !tplEl) bad('a template OVF lacks vireo:Template');
  if (kind === 'vm' && tplEl) bad('a VM OVF carries vireo:Template');
  const versionOf = tplEl ? optionalAttr(tplEl, NS.vireo, 'versionOf') : undefined;
  const template = tplEl
    ? {
        version_of: versionOf === undefined ? null : uuid(versionOf, 'versionOf'),
        version_number: int(
          attr(tplEl, NS.vireo, 'versionNumber', 'Template'),
          'template version',
          1,
          1_000_000,
        ),
      }
    : null;

  const cpus = int(
    field(singleItem(items, RESOURCE.cpu, 'CPU'), 'VirtualQuantity', 'the CPU item'),
    'cpus',
    1,
    OVF_LIMITS.maxCpus,
  );
  const memItem = singleItem(items, RESOURCE.memory, 'memory');
  const memUnits = memItem.fields.get('AllocationUnits') ?? 'byte * 2^20';
  const memQty = int(
    field(memItem, 'VirtualQuantity', 'the memory item'),
    'memory',
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const memScale: Record<string, number> = {
    'byte * 2^20': 1,
    MegaBytes: 1,
    'byte * 2^30': 1024,
    GigaBytes: 1024,
  };
  const scale =
    memScale[memUnits] ?? bad(`memory units ${JSON.stringify(memUnits.slice(0, 40))} are not supported`);
  const memoryMib = memQty * scale;
  if (memoryMib < OVF_LIMITS.minMemoryMib || memoryMib > OVF_LIMITS.maxMemoryMib)
    bad(`memory ${memoryMib} MiB is out of range`);

  // CD-ROM: the rasd item and vireo:Cdrom go together.
  const cdItems = items.filter((i) => i.type === RESOURCE.cdrom);
  if (cdItems.length > 1) bad('more than one CD-ROM');
  const cdEl = optionalOne(vireo, NS.vireo, 'Cdrom', 'VireoSection');
  if (Boolean(cdEl) !== (cdItems.length === 1)) bad('the CD-ROM item and vireo:Cdrom disagree');
  let cdrom: OvfCdrom | null = null;
  if (cdEl) {
    const image = optionalAttr(cdEl, NS.vireo, 'image');
    cdrom =
      image !== undefined
        ? { image: match(image, FILE_NAME, 'CD-ROM image') }
        : {
            storage_domain_id: uuid(
              attr(cdEl, NS.vireo, 'storageDomainId', 'Cdrom'),
              'CD-ROM storage domain',
            ),
            file: match(attr(cdEl, NS.vireo, 'file', 'Cdrom'), FILE_NAME, 'CD-ROM file'),
          };
  }

  const disks = parseDisks(diskDecls, files, items, vireo);
  const nics = parseNics(items, vireo);
  return {
    kind,
    id,
    name,
    description: desc,
    cpus,
    memory_mib: memoryMib,
    os_type: osType,
    boot_order: boot,
    console: consoleType,
    cdrom,
    template,
    created_at: createdAt,
    disks,
    nics,
  };
}

function parseDisks(
  decls: XmlElement[],
  files: Map<string, { href: string; size: number | null }>,
  items: RasdItem[],
  vireo: XmlElement,
): OvfDisk[] {
  const extra = new Map<string, XmlElement>();
  for (const v of children(vireo, NS.vireo, 'Disk')) {
    const id = uuid(attr(v, NS.vireo, 'diskId', 'vireo:Disk'), 'disk id');
    if (extra.has(id)) bad(`disk ${id} is described twice`);
    extra.set(id, v);
  }
  const diskItems = items.filter((i) => i.type === RESOURCE.disk);
  if (diskItems.length !== decls.length || extra.size !== decls.length)
    bad('DiskSection, disk items and vireo:Disk entries do not match');
  const byHost = new Map<string, RasdItem>();
  for (const it of diskItems) byHost.set(field(it, 'HostResource', 'a disk item'), it);
  const seen = new Set<string>();
  const positions = new Set<number>();
  const usedFiles = new Set<string>();
  const out: OvfDisk[] = [];
  for (const decl of decls) {
    const diskId = uuid(attr(decl, NS.ovf, 'diskId', 'Disk'), 'disk id');
    if (seen.has(diskId)) bad(`disk ${diskId} is declared twice`);
    seen.add(diskId);
    const fileRef = attr(decl, NS.ovf, 'fileRef', 'Disk');
    const file = files.get(fileRef) ?? bad(`disk ${diskId} names a file that References lacks`);
    if (usedFiles.has(fileRef)) bad(`two disks share file ${JSON.stringify(fileRef.slice(0, 80))}`);
    usedFiles.add(fileRef);
    const units = optionalAttr(decl, NS.ovf, 'capacityAllocationUnits') ?? 'byte';
    if (units !== 'byte') bad(`disk capacity units ${JSON.stringify(units.slice(0, 40))} are not supported`);
    const size = int(attr(decl, NS.ovf, 'capacity', 'Disk'), 'disk capacity', 1, OVF_LIMITS.maxDiskBytes);
    const item = byHost.get(`ovf:/disk/${diskId}`) ?? bad(`disk ${diskId} has no hardware item`);
    const v = extra.get(diskId) ?? bad(`disk ${diskId} has no vireo:Disk`);
    const format = oneOf(attr(v, NS.vireo, 'format', 'vireo:Disk'), ['qcow2', 'raw'] as const, 'disk format');
    const declared = optionalAttr(decl, NS.ovf, 'format');
    if (declared !== undefined && declared !== DISK_FORMAT_URI[format])
      bad(`disk ${diskId}: ovf:format and vireo:format disagree`);
    const volumeId = uuid(attr(v, NS.vireo, 'volumeId', 'vireo:Disk'), 'volume id');
    const disk: OvfDisk = {
      disk_id: diskId,
      volume_id: volumeId,
      name: match(field(item, 'ElementName', 'a disk item'), NAME, 'disk name'),
      description: description(item.fields.get('Description') ?? '', 'disk description'),
      size_bytes: size,
      format,
      interface: oneOf(attr(v, NS.vireo, 'interface', 'vireo:Disk'), OVF_DISK_INTERFACES, 'disk interface'),
      bootable: bool(attr(v, NS.vireo, 'bootable', 'vireo:Disk'), 'bootable'),
      position: int(
        field(item, 'AddressOnParent', 'a disk item'),
        'disk position',
        0,
        OVF_LIMITS.maxDisks - 1,
      ),
      file_bytes: file.size,
    };
    const encrypted = optionalAttr(v, NS.vireo, 'encrypted');
    if (encrypted !== undefined && bool(encrypted, 'encrypted')) disk.encrypted = true;
    // The href is a path we will open on storage: only the one shape we write is accepted.
    if (file.href !== ovfDiskHref(disk)) bad(`disk ${diskId}: file href must be "<disk_id>/<volume_id>"`);
    if (positions.has(disk.position)) bad(`two disks at position ${disk.position}`);
    positions.add(disk.position);
    out.push(disk);
  }
  if (usedFiles.size !== files.size) bad('References lists a file no disk uses');
  if (out.filter((d) => d.bootable).length > 1) bad('more than one bootable disk');
  return out.sort((a, b) => a.position - b.position);
}

function parseNics(items: RasdItem[], vireo: XmlElement): OvfNic[] {
  const nicItems = items.filter((i) => i.type === RESOURCE.nic);
  const extra = children(vireo, NS.vireo, 'Nic');
  if (nicItems.length > OVF_LIMITS.maxNics) bad(`more than ${OVF_LIMITS.maxNics} NICs`);
  if (nicItems.length !== extra.length) bad('NIC items and vireo:Nic entries do not match');
  const macs = new Set<string>();
  return nicItems.map((it, i) => {
    const type = oneOf(
      attr(extra[i] as XmlElement, NS.vireo, 'type', 'vireo:Nic'),
      ['user', 'bridge'] as const,
      'NIC type',
    );
    const mac = match(field(it, 'Address', 'a NIC item'), MAC, 'MAC').toLowerCase();
    if (macs.has(mac)) bad(`MAC ${mac} is repeated`);
    macs.add(mac);
    const model = oneOf(it.fields.get('ResourceSubType') ?? 'virtio', OVF_NIC_MODELS, 'NIC model');
    const connection = field(it, 'Connection', 'a NIC item');
    if (type === 'user') {
      if (connection !== 'user') bad('a user-mode NIC must connect to "user"');
      return { type, mac, model };
    }
    return { type, bridge: match(connection, BRIDGE, 'bridge'), mac, model };
  });
}

/**
 * Parses an OVF that Vireo wrote (another engine's export included). The text is hostile: size,
 * depth and element caps, no DTD/entities/processing instructions, every value validated (ids,
 * names, sizes, counts, enums, cross-references between References, DiskSection, hardware items
 * and the vireo section). Any refusal is `400 ovf_invalid` with the reason in `details.reason`.
 */
export function parseOvf(text: string): OvfDocument {
  try {
    return parseDocument(parseXmlTree(text));
  } catch (err) {
    if (err instanceof Bad || err instanceof XmlRefused) {
      throw new InvalidInput('ovf_invalid', `The OVF is not valid: ${err.message}`, {
        details: { reason: err.message },
      });
    }
    throw err;
  }
}
