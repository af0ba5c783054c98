import { createHash } from 'node:crypto';
import { InvalidInput } from '../../errors';
import { NS, RESOURCE } from './names';
import { parseOvf } from './parse';
import { OVF_LIMITS, type OvfDisk, type OvfDiskInterface, type OvfDocument, type OvfNicModel } from './types';
import { type XmlElement, XmlRefused, parseXmlTree } from './xml';

/**
 * The mapping of a standard DMTF OVF 1.x/2.x envelope written by another tool (VirtualBox, VMware,
 * oVirt) onto Vireo's OVF model (ADR 028). Only what a VM needs to boot is taken: name, CPUs,
 * memory, disks (with their files and formats), NICs and an OS hint. Everything else is skipped and
 * listed in `warnings`, never silently. The text is hostile: the same XML limits as our own OVFs
 * (no DTD, entities or processing instructions; size, depth and element caps) and every value is
 * checked; a refusal is `400 ovf_invalid` with the reason.
 */

/** The image format of a foreign disk file, from the DiskSection's `ovf:format` URI. */
export type ForeignDiskFormat = 'vmdk' | 'qcow2' | 'raw';

/** Where one disk's image is: the `href` of its References/File (an OVA member name) and its format. */
export interface ForeignDiskSource {
  disk_id: string;
  href: string;
  format: ForeignDiskFormat;
  /** Size of the file as References says (null when not given). */
  file_bytes: number | null;
}

/** A foreign OVF mapped onto our model. Disks become qcow2 on import whatever the source format. */
export interface ForeignOvf {
  doc: OvfDocument;
  sources: ForeignDiskSource[];
  /** Everything skipped or changed, in words an administrator understands. */
  warnings: string[];
}

/** The OVF 2.x envelope namespace (1.x is `NS.ovf`); the rest of the vocabulary is the same. */
const OVF2 = 'http://schemas.dmtf.org/ovf/envelope/2';
/** OVF 2.x puts disks and NICs in StorageItem / EthernetPortItem with their own CIM classes. */
const CIM_PREFIX = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/';
const ITEM_ELEMENTS = new Set(['Item', 'StorageItem', 'EthernetPortItem']);

/** An OVA member name: one path segment of safe characters (it is also a file name on storage). */
const HREF = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DIGITS = /^[0-9]{1,20}$/;
const MAX_WARNINGS = 50;

/** ovf:format URIs (fragment or path ends) other tools write. */
function diskFormat(uri: string): ForeignDiskFormat | undefined {
  const u = uri.trim();
  if (
    /^https?:\/\/www\.vmware\.com\/(interfaces\/specifications|specifications)\/vmdk\.html#(streamOptimized|sparse|monolithicSparse)$/i.test(
      u,
    )
  )
    return 'vmdk';
  if (u === 'http://www.gnome.org/~markmc/qcow-image-format.html') return 'qcow2';
  if (u === 'http://en.wikipedia.org/wiki/Byte' || u === 'urn:vireo:ovf:1:disk-format:raw') return 'raw';
  return undefined;
}

/** CIM_OperatingSystem OsType numbers → our OS families (the closest; anything else is `other`). */
const OS_BY_CIM: Record<number, OvfDocument['os_type']> = {
  36: 'other_linux',
  101: 'other_linux',
  79: 'rhel',
  80: 'rhel',
  93: 'ubuntu',
  94: 'ubuntu',
  95: 'debian',
  96: 'debian',
  67: 'windows',
  69: 'windows',
  103: 'windows',
  105: 'windows',
  107: 'windows',
  109: 'windows',
  110: 'windows',
  111: 'windows',
  112: 'windows',
  113: 'windows',
  114: 'windows',
  115: 'windows',
  116: 'windows',
};

/** rasd:ResourceSubType of a NIC → our model; `undefined` when unknown (then virtio, with a warning). */
function nicModel(subType: string): { model: OvfNicModel; exact: boolean } {
  const s = subType.trim().toLowerCase();
  if (s === 'virtio' || s === 'virtio-net' || s === 'virtionet') return { model: 'virtio', exact: true };
  if (s === 'e1000' || s === 'e1000e') return { model: 'e1000', exact: true };
  if (s === 'rtl8139') return { model: 'rtl8139', exact: true };
  // oVirt writes its interface type number: 3 paravirtual (virtio), 2 e1000, 0/1 rtl8139.
  const ovirt: Record<string, OvfNicModel> = { '3': 'virtio', '2': 'e1000', '1': 'rtl8139', '0': 'rtl8139' };
  const numbered = ovirt[s];
  if (numbered) return { model: numbered, exact: true };
  // PCnet and vmxnet have no QEMU equivalent we offer: e1000 works in every guest without drivers.
  return { model: 'e1000', exact: false };
}

/** oVirt's `ovf:disk-interface` on a Disk → ours. */
const OVIRT_INTERFACE: Record<string, OvfDiskInterface> = {
  VirtIO: 'virtio',
  VirtIO_SCSI: 'scsi',
  SPAPR_VSCSI: 'scsi',
  IDE: 'ide',
  SATA: 'sata',
};

/** CIM ResourceType of disk controllers → the interface its disks get here. */
const CONTROLLER: Record<number, OvfDiskInterface> = { 5: 'ide', 6: 'scsi', 20: 'sata' };
/** ResourceTypes known and deliberately not imported (listed as warnings). */
const SKIPPED: Record<number, string> = {
  1: 'other device',
  14: 'floppy drive',
  15: 'CD-ROM drive',
  16: 'DVD drive',
  21: 'serial port',
  23: 'USB controller',
  24: 'graphics controller',
  35: 'sound card',
};

class Bad extends Error {}
function bad(reason: string): never {
  throw new Bad(reason);
}

function whole(value: string | undefined, what: string, min: number, max: number): number {
  const t = (value ?? '').trim();
  if (!DIGITS.test(t)) bad(`${what} ${JSON.stringify(t.slice(0, 40))} is not a whole number`);
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    bad(`${what} ${t.slice(0, 24)} is outside ${min}–${max}`);
  return n;
}

/**
 * `byte`, `byte * 2^N`, `KiloBytes`/`MegaBytes`/`GigaBytes` (DMTF DSP0004 programmatic units and
 * the older names) → the multiplier in bytes.
 */
function unitBytes(units: string | undefined, fallback: string, what: string): number {
  const u = (units ?? fallback).trim().replace(/\s+/g, ' ');
  const m = /^byte(?: ?\* ?2 ?\^ ?([0-9]{1,2}))?$/.exec(u);
  if (m) {
    const exp = m[1] === undefined ? 0 : Number(m[1]);
    if (exp > 50) bad(`${what} units ${JSON.stringify(u)} are too large`);
    return 2 ** exp;
  }
  const named: Record<string, number> = { KiloBytes: 1024, MegaBytes: 1024 ** 2, GigaBytes: 1024 ** 3 };
  return named[u] ?? bad(`${what} units ${JSON.stringify(u.slice(0, 40))} are not supported`);
}

/** A deterministic UUID from a key, so a listing and a later import name the same foreign export. */
export function foreignUuid(key: string): string {
  const h = createHash('sha256').update(`vireo-foreign-ovf\0${key}`).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

interface Item {
  type: number;
  fields: Map<string, string>;
}

function items(hw: XmlElement, ovf: string): Item[] {
  return hw.children
    .filter((c) => c.uri === ovf && ITEM_ELEMENTS.has(c.local))
    .map((item) => {
      const fields = new Map<string, string>();
      for (const c of item.children) {
        if (!c.uri.startsWith(CIM_PREFIX)) continue;
        // HostResource may repeat in the schema; a foreign OVF gets one, as in every known writer.
        if (fields.has(c.local)) bad(`a hardware item repeats ${c.local}`);
        fields.set(c.local, c.text.trim());
      }
      const type = whole(fields.get('ResourceType'), 'ResourceType', 0, 65535);
      return { type, fields };
    });
}

/** A name our API accepts, from whatever the other tool called the VM. */
function safeName(raw: string, warnings: string[]): string {
  const cleaned = raw
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  const name = NAME.test(cleaned) ? cleaned : 'imported-vm';
  if (name !== raw.trim()) warnings.push(`name ${JSON.stringify(raw.trim().slice(0, 80))} became ${name}`);
  return name;
}

function envelopeUri(root: XmlElement): string {
  // oVirt writes the 1.x namespace with a trailing slash.
  if (root.local !== 'Envelope' || ![NS.ovf, `${NS.ovf}/`, OVF2].includes(root.uri))
    bad('the root element is not an OVF Envelope');
  return root.uri;
}

function childrenOf(el: XmlElement, uri: string, local: string): XmlElement[] {
  return el.children.filter((c) => c.uri === uri && c.local === local);
}

function parseForeign(root: XmlElement, key: string): ForeignOvf {
  const ovf = envelopeUri(root);
  const a = (el: XmlElement, local: string): string | undefined => el.attrs.get(`{${ovf}}${local}`);
  const warnings: string[] = [];
  const systems = childrenOf(root, ovf, 'VirtualSystem');
  if (childrenOf(root, ovf, 'VirtualSystemCollection').length > 0 || systems.length !== 1)
    bad('exactly one VirtualSystem is supported (a VirtualSystemCollection is not)');
  const vs = systems[0] as XmlElement;
  // The standard says a consumer must refuse a section it does not understand that is marked required.
  const known = new Set([
    'References',
    'DiskSection',
    'NetworkSection',
    'VirtualSystem',
    'AnnotationSection',
    'ProductSection',
    'EulaSection',
    'OperatingSystemSection',
    'VirtualHardwareSection',
    'Name',
    'Info',
    'StartupSection',
    'DeploymentOptionSection',
    // oVirt writes the VM's description straight into the VirtualSystem.
    'Description',
  ]);
  // Plain settings some writers put in the VirtualSystem (oVirt: CreationDate, Domain, …) are
  // named once, together; sections one by one.
  const plain: string[] = [];
  for (const el of [...root.children, ...vs.children]) {
    if (el.uri === ovf && known.has(el.local)) continue;
    const required = el.attrs.get(`{${ovf}}required`);
    if (required === 'true' || (required === undefined && el.uri !== ovf && el.local.endsWith('Section')))
      bad(`the section ${el.local.slice(0, 80)} is required by the OVF but not understood`);
    if (el.local.endsWith('Section') || el.uri !== ovf)
      warnings.push(`section ${el.local.slice(0, 80)} skipped`);
    else if (!plain.includes(el.local)) plain.push(el.local.slice(0, 80));
  }
  if (plain.length > 0) {
    const named = plain.slice(0, 8).join(', ');
    warnings.push(`settings skipped: ${named}${plain.length > 8 ? `, and ${plain.length - 8} more` : ''}`);
  }

  const refsEl = childrenOf(root, ovf, 'References');
  if (refsEl.length !== 1) bad('the Envelope must have exactly one References');
  const files = new Map<string, { href: string; size: number | null }>();
  for (const f of childrenOf(refsEl[0] as XmlElement, ovf, 'File')) {
    const id = a(f, 'id') ?? bad('a File lacks ovf:id');
    if (files.has(id)) bad(`File id ${JSON.stringify(id.slice(0, 80))} is repeated`);
    if (a(f, 'compression') !== undefined && a(f, 'compression') !== 'identity')
      bad('compressed files (ovf:compression) are not supported');
    if (a(f, 'chunkSize') !== undefined) bad('chunked files (ovf:chunkSize) are not supported');
    const href = a(f, 'href') ?? bad('a File lacks ovf:href');
    // The href names a member of the OVA: one plain segment, never a path or a URL.
    if (!HREF.test(href)) bad(`file href ${JSON.stringify(href.slice(0, 80))} is not a plain file name`);
    const size = a(f, 'size');
    files.set(id, {
      href,
      size: size === undefined ? null : whole(size, 'File size', 0, Number.MAX_SAFE_INTEGER),
    });
  }
  if (files.size > OVF_LIMITS.maxDisks + 1) bad(`more than ${OVF_LIMITS.maxDisks + 1} files`);

  const decls = new Map<
    string,
    {
      capacity: number;
      fileRef: string | undefined;
      format: string | undefined;
      /** oVirt names the interface and the boot flag on the Disk itself. */
      iface: OvfDiskInterface | undefined;
      boot: boolean;
    }
  >();
  for (const ds of childrenOf(root, ovf, 'DiskSection')) {
    for (const d of childrenOf(ds, ovf, 'Disk')) {
      const id = a(d, 'diskId') ?? bad('a Disk lacks ovf:diskId');
      if (decls.has(id)) bad(`disk ${JSON.stringify(id.slice(0, 80))} is declared twice`);
      const capacity = whole(a(d, 'capacity'), 'disk capacity', 1, Number.MAX_SAFE_INTEGER);
      const bytes = capacity * unitBytes(a(d, 'capacityAllocationUnits'), 'byte', 'disk capacity');
      if (!Number.isSafeInteger(bytes) || bytes > OVF_LIMITS.maxDiskBytes)
        bad(`disk ${id.slice(0, 80)} is larger than ${OVF_LIMITS.maxDiskBytes} bytes`);
      decls.set(id, {
        capacity: bytes,
        fileRef: a(d, 'fileRef'),
        format: a(d, 'format'),
        iface: OVIRT_INTERFACE[a(d, 'disk-interface') ?? ''],
        boot: a(d, 'boot') === 'true',
      });
    }
  }
  if (decls.size > OVF_LIMITS.maxDisks) bad(`more than ${OVF_LIMITS.maxDisks} disks`);

  const hwSections = childrenOf(vs, ovf, 'VirtualHardwareSection');
  if (hwSections.length !== 1) bad('the VirtualSystem must have exactly one VirtualHardwareSection');
  const hw = hwSections[0] as XmlElement;
  for (const el of hw.children) {
    if (el.uri === ovf && (ITEM_ELEMENTS.has(el.local) || el.local === 'Info' || el.local === 'System'))
      continue;
    const key = [...el.attrs.entries()].find(([k]) => k.endsWith('}key'))?.[1];
    warnings.push(`hardware entry ${el.local.slice(0, 80)}${key ? ` ${key.slice(0, 80)}` : ''} skipped`);
  }
  const all = items(hw, ovf);

  const cpuItems = all.filter((i) => i.type === RESOURCE.cpu);
  if (cpuItems.length !== 1) bad(`the hardware must have exactly one CPU item (found ${cpuItems.length})`);
  const cpus = whole((cpuItems[0] as Item).fields.get('VirtualQuantity'), 'CPUs', 1, OVF_LIMITS.maxCpus);
  const memItems = all.filter((i) => i.type === RESOURCE.memory);
  if (memItems.length !== 1) bad(`the hardware must have exactly one memory item (found ${memItems.length})`);
  const mem = memItems[0] as Item;
  const memBytes =
    whole(mem.fields.get('VirtualQuantity'), 'memory', 1, Number.MAX_SAFE_INTEGER) *
    unitBytes(mem.fields.get('AllocationUnits'), 'byte * 2^20', 'memory');
  if (!Number.isSafeInteger(memBytes)) bad('memory is out of range');
  const memoryMib = Math.ceil(memBytes / 1024 ** 2);
  if (memoryMib < OVF_LIMITS.minMemoryMib || memoryMib > OVF_LIMITS.maxMemoryMib)
    bad(`memory ${memoryMib} MiB is outside ${OVF_LIMITS.minMemoryMib}–${OVF_LIMITS.maxMemoryMib} MiB`);
  if (memoryMib * 1024 ** 2 !== memBytes) warnings.push(`memory rounded up to ${memoryMib} MiB`);

  const controllers = new Map<string, OvfDiskInterface>();
  for (const it of all) {
    const iface = CONTROLLER[it.type];
    const id = it.fields.get('InstanceID');
    if (iface && id) controllers.set(id, iface);
  }

  const disks: OvfDisk[] = [];
  const sources: ForeignDiskSource[] = [];
  const usedDecls = new Set<string>();
  let bootDecl: number | undefined;
  const usedParents = new Set<string>();
  const nics: OvfDocument['nics'] = [];
  for (const it of all) {
    if (it.type === RESOURCE.cpu || it.type === RESOURCE.memory || CONTROLLER[it.type]) continue;
    const label = it.fields.get('ElementName') ?? it.fields.get('Caption') ?? `type ${it.type}`;
    if (it.type === RESOURCE.disk) {
      const host = it.fields.get('HostResource') ?? bad('a disk item has no HostResource');
      const m = /^(?:ovf:)?\/disk\/(.+)$/.exec(host);
      if (!m) {
        warnings.push(`disk ${label.slice(0, 80)} without a disk image (${host.slice(0, 80)}) skipped`);
        continue;
      }
      const declId = m[1] as string;
      const decl =
        decls.get(declId) ??
        bad(`disk item names ${JSON.stringify(declId.slice(0, 80))}, which DiskSection lacks`);
      if (usedDecls.has(declId)) bad(`two disk items use disk ${declId.slice(0, 80)}`);
      usedDecls.add(declId);
      if (decl.fileRef === undefined) {
        warnings.push(`disk ${declId.slice(0, 80)} has no image file (an empty disk): skipped`);
        continue;
      }
      const file =
        files.get(decl.fileRef) ?? bad(`disk ${declId.slice(0, 80)} names a file References lacks`);
      if (sources.some((s) => s.href === file.href)) bad(`two disks share the file ${file.href}`);
      const format =
        decl.format === undefined
          ? bad(`disk ${declId.slice(0, 80)} has no ovf:format`)
          : (diskFormat(decl.format) ??
            bad(
              `disk ${declId.slice(0, 80)}: image format ${JSON.stringify(decl.format.slice(0, 100))} is not supported (vmdk streamOptimized, qcow2 or raw)`,
            ));
      if (disks.length >= OVF_LIMITS.maxDisks) bad(`more than ${OVF_LIMITS.maxDisks} disks`);
      const parent = it.fields.get('Parent');
      if (parent) usedParents.add(parent);
      const iface = (parent ? controllers.get(parent) : undefined) ?? decl.iface ?? 'virtio';
      if ((!parent || !controllers.get(parent)) && !decl.iface)
        warnings.push(`disk ${declId.slice(0, 80)}: no known controller, attached as virtio`);
      if (decl.boot) bootDecl ??= disks.length;
      const i = disks.length;
      const diskId = foreignUuid(`${key}/disk/${i}`);
      disks.push({
        disk_id: diskId,
        volume_id: foreignUuid(`${key}/volume/${i}`),
        name: safeDiskName(label, i),
        description: '',
        size_bytes: decl.capacity,
        format: 'qcow2',
        interface: iface,
        bootable: i === 0,
        position: i,
        file_bytes: file.size,
      });
      sources.push({ disk_id: diskId, href: file.href, format, file_bytes: file.size });
      continue;
    }
    if (it.type === RESOURCE.nic) {
      if (nics.length >= OVF_LIMITS.maxNics) {
        warnings.push(`NIC ${label.slice(0, 80)} skipped: more than ${OVF_LIMITS.maxNics} NICs`);
        continue;
      }
      const sub = it.fields.get('ResourceSubType') ?? '';
      const { model, exact } = nicModel(sub);
      if (!exact)
        warnings.push(`NIC ${label.slice(0, 80)}: model ${JSON.stringify(sub.slice(0, 40))} became ${model}`);
      const conn = it.fields.get('Connection');
      // A MAC is given a fresh value on import; the network name means nothing here.
      nics.push({ type: 'user', mac: '52:54:00:00:00:00', model });
      if (conn)
        warnings.push(
          `NIC ${label.slice(0, 80)} was on network ${JSON.stringify(conn.slice(0, 80))} (not known here)`,
        );
      continue;
    }
    const what = SKIPPED[it.type];
    warnings.push(
      what
        ? `${what} ${label.slice(0, 80)} skipped`
        : `unknown hardware item ${label.slice(0, 80)} (ResourceType ${it.type}) skipped`,
    );
  }
  // A controller (or a type-20 device that is no disk controller) no imported disk sits on.
  for (const it of all) {
    const id = it.fields.get('InstanceID');
    if (CONTROLLER[it.type] && !(id && usedParents.has(id))) {
      const label = it.fields.get('ElementName') ?? it.fields.get('Caption') ?? `type ${it.type}`;
      warnings.push(`controller ${label.slice(0, 80)} skipped (no disk on it)`);
    }
  }
  // The disk the OVF marks bootable (oVirt), else the first.
  for (const d of disks) d.bootable = d.position === (bootDecl ?? 0);
  for (const id of decls.keys())
    if (!usedDecls.has(id)) warnings.push(`disk ${id.slice(0, 80)} is not attached: skipped`);
  if (disks.length === 0) bad('the OVF has no disk with an image');

  let osType: OvfDocument['os_type'] = 'other';
  const osEl = childrenOf(vs, ovf, 'OperatingSystemSection')[0];
  if (osEl) {
    const cim = Number(a(osEl, 'id') ?? '');
    const mapped = Number.isSafeInteger(cim) ? OS_BY_CIM[cim] : undefined;
    if (mapped) osType = mapped;
    else
      warnings.push(
        `operating system ${JSON.stringify((a(osEl, 'id') ?? '').slice(0, 20))} is not known: other`,
      );
  }
  if (firmwareIsEfi(vs))
    warnings.push('the VM used EFI firmware; it is imported with BIOS firmware and may not boot');

  const rawName =
    childrenOf(vs, ovf, 'Name')[0]?.text.trim() ||
    a(vs, 'id') ||
    bad('the VirtualSystem has neither a Name nor an id');
  const annotation = childrenOf(vs, ovf, 'AnnotationSection')[0];
  let description = annotation
    ? (childrenOf(annotation, ovf, 'Annotation')[0]?.text ?? '')
    : (childrenOf(vs, ovf, 'Description')[0]?.text ?? '');
  if (description.length > OVF_LIMITS.maxDescription) {
    description = description.slice(0, OVF_LIMITS.maxDescription);
    warnings.push('description shortened');
  }
  const doc: OvfDocument = {
    kind: 'vm',
    id: foreignUuid(key),
    name: safeName(rawName, warnings),
    description,
    cpus,
    memory_mib: memoryMib,
    os_type: osType,
    boot_order: ['disk'],
    console: 'vnc',
    cdrom: null,
    template: null,
    created_at: null,
    disks,
    nics,
  };
  // Every name in a warning is cut at 80 characters; their number is capped too (hostile input).
  if (warnings.length > MAX_WARNINGS) {
    const more = warnings.length - (MAX_WARNINGS - 1);
    warnings.splice(MAX_WARNINGS - 1, warnings.length, `and ${more} more entries skipped`);
  }
  return { doc, sources, warnings };
}

function safeDiskName(label: string, i: number): string {
  const cleaned = label
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return NAME.test(cleaned) ? cleaned : `disk${i + 1}`;
}

/** VMware writes `vmw:Config key="firmware" value="efi"`; VirtualBox a `Firmware type="EFI"` element. */
function firmwareIsEfi(el: XmlElement, depth = 0): boolean {
  if (depth > 8) return false;
  const values = [...el.attrs.entries()];
  const key = values.find(([k]) => k.endsWith('}key') || k === 'key')?.[1];
  const value = values.find(([k]) => k.endsWith('}value') || k === 'value')?.[1];
  if (key === 'firmware' && value?.toLowerCase() === 'efi') return true;
  if (el.local === 'Firmware' && /^efi/i.test(el.attrs.get('type') ?? '')) return true;
  return el.children.some((c) => firmwareIsEfi(c, depth + 1));
}

/** True when the VirtualSystem carries our own section (then {@link parseOvf} is the parser). */
export function isVireoOvf(root: XmlElement): boolean {
  return root.children.some(
    (vs) =>
      vs.local === 'VirtualSystem' &&
      vs.children.some((c) => c.uri === NS.vireo && c.local === 'VireoSection'),
  );
}

/**
 * Parses an OVF written by another tool. `key` names the export on its domain (e.g. `ova:<name>`):
 * the entity, disk and volume ids derive from it, so a listing and a later import agree. Throws
 * `400 ovf_invalid` with `details.reason`.
 */
export function parseForeignOvf(text: string, key: string): ForeignOvf {
  try {
    return parseForeign(parseXmlTree(text), key);
  } catch (err) {
    if (err instanceof Bad || err instanceof XmlRefused) {
      throw new InvalidInput('ovf_invalid', `The OVF is not valid: ${err.message}`, {
        details: { reason: err.message },
      });
    }
    throw err;
  }
}

/** An export's OVF: ours (origin `vireo`) or another tool's (origin `foreign`, with sources and warnings). */
export type ExportOvf =
  | { origin: 'vireo'; doc: OvfDocument; sources: null; warnings: string[] }
  | ({ origin: 'foreign' } & ForeignOvf);

/**
 * Parses any OVF found on an export domain: one with a `vireo:VireoSection` through {@link parseOvf}
 * (strict, lossless), any other standard envelope through the foreign mapping.
 */
export function parseExportOvf(text: string, key: string): ExportOvf {
  let root: XmlElement;
  try {
    root = parseXmlTree(text);
  } catch (err) {
    if (err instanceof XmlRefused) {
      throw new InvalidInput('ovf_invalid', `The OVF is not valid: ${err.message}`, {
        details: { reason: err.message },
      });
    }
    throw err;
  }
  if (isVireoOvf(root)) return { origin: 'vireo', doc: parseOvf(text), sources: null, warnings: [] };
  return { origin: 'foreign', ...parseForeignOvf(text, key) };
}
