import type { ExportEntry } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { agentCodeOf } from '../controllers/vm-controller';
import type { VmDiskView } from '../db/repositories/disks';
import type { TemplateDiskRow, TemplateRow } from '../db/repositories/templates';
import type { VmRow } from '../db/tables/vms';
import {
  type ForeignDiskSource,
  type OvfDisk,
  type OvfDocument,
  type OvfEntity,
  type OvfNic,
  parseExportOvf,
  parseOvf,
} from '../domain/ovf';
import { templateEntityOf, templateOvfDisks, vmEntityOf } from '../domain/storage/ovf-store';
import { NotFound, VireoError } from '../errors';

/** Where an export domain keeps an OVF-format export: `master/vms/<id>/<id>.ovf` (as oVirt). */
export function exportOvfPath(id: string): string {
  return `vms/${id}/${id}.ovf`;
}

/** One export found on storage, with its parsed OVF. */
export interface FoundExport {
  doc: OvfDocument;
  format: 'ovf' | 'ova';
  ovaName: string | null;
  exportedAt: string | null;
  /** `foreign`: an OVA another tool wrote (VirtualBox, VMware, oVirt), mapped by ADR 028. */
  origin: 'vireo' | 'foreign';
  /** Foreign only: each disk's member file and image format (null for ours). */
  sources: ForeignDiskSource[] | null;
  /** What the import will skip or change (foreign only; empty for ours). */
  warnings: string[];
}

/** Members of another tool's OVA that are not images: a manifest or certificate (not verified). */
const SIDE_MEMBER = /\.(mf|cert|sha1|sha256)$/i;

const OS_TYPES = new Set(['other', 'other_linux', 'debian', 'ubuntu', 'rhel', 'windows']);

/**
 * The OVF store's description of an entity, as an export carries it: with its creation time, and an
 * OS type the OVF knows (`other` otherwise), so that any VM or template can be exported.
 */
function exportEntity(entity: OvfEntity, createdAt: Date): OvfEntity {
  return {
    ...entity,
    os_type: (OS_TYPES.has(entity.os_type) ? entity.os_type : 'other') as OvfEntity['os_type'],
    created_at: createdAt.toISOString(),
  };
}

function ovfNics(nics: unknown[]): OvfNic[] {
  return (nics as { type?: string; bridge?: string; mac: string; model?: OvfNic['model'] }[]).map((n) =>
    n.type === 'bridge' || n.bridge
      ? { type: 'bridge', bridge: n.bridge as string, mac: n.mac, model: n.model ?? 'virtio' }
      : { type: 'user', mac: n.mac, model: n.model ?? 'virtio' },
  );
}

/**
 * The OVF description of a VM and its attached disks. `forOva`: the images travel as qcow2 (an OVA
 * holds qcow2 only), so the OVF says qcow2 whatever the disks are.
 */
export function vmOvf(
  vm: VmRow,
  disks: VmDiskView[],
  forOva: boolean,
): { entity: OvfEntity; disks: OvfDisk[]; nics: OvfNic[] } {
  return {
    entity: exportEntity(vmEntityOf(vm), vm.created_at),
    disks: disks.map((d) => ({
      disk_id: d.id,
      volume_id: d.volume_id,
      name: d.name,
      description: '',
      size_bytes: d.size_bytes,
      format: forOva ? 'qcow2' : d.format,
      interface: d.interface as OvfDisk['interface'],
      bootable: d.bootable,
      position: d.position,
      file_bytes: null,
    })),
    nics: ovfNics(vm.nics as unknown[]),
  };
}

/** The OVF description of a template (its disks are single flattened bases). */
export function templateOvf(
  t: TemplateRow,
  disks: TemplateDiskRow[],
  forOva: boolean,
): { entity: OvfEntity; disks: OvfDisk[]; nics: OvfNic[] } {
  return {
    entity: exportEntity(templateEntityOf(t), t.created_at),
    disks: templateOvfDisks(disks).map((d) => (forOva ? { ...d, format: 'qcow2' } : d)),
    nics: ovfNics(t.nics),
  };
}

/** Wire shape of one export. */
export function toExportEntry(e: FoundExport): ExportEntry {
  const d = e.doc;
  return {
    id: d.id,
    kind: d.kind,
    name: d.name,
    description: d.description,
    format: e.format,
    ova_name: e.ovaName,
    origin: e.origin,
    warnings: e.warnings,
    cpus: d.cpus,
    memory_mib: d.memory_mib,
    os_type: d.os_type,
    disks: d.disks.map((x) => ({
      disk_id: x.disk_id,
      volume_id: x.volume_id,
      name: x.name,
      size_bytes: x.size_bytes,
      format: e.sources?.find((s) => s.disk_id === x.disk_id)?.format ?? x.format,
      interface: x.interface,
      bootable: x.bootable,
    })),
    nic_count: d.nics.length,
    created_at: d.created_at,
    exported_at: e.exportedAt,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Reads what an export domain holds, from the storage (so exports another engine wrote show too):
 * every `master/vms/<id>/<id>.ovf` and every OVA's OVF, each through the hostile-input parser. Files
 * that do not parse are reported in `invalid`, never imported.
 */
export async function readExports(
  hub: AgentHub,
  hostId: string,
  domainId: string,
  log: Logger,
): Promise<{ items: FoundExport[]; invalid: { path: string; reason: string }[] }> {
  const items: FoundExport[] = [];
  const invalid: { path: string; reason: string }[] = [];
  const refused = (path: string, err: unknown) => {
    const reason =
      err instanceof VireoError ? String(err.details.reason ?? err.message) : (err as Error).message;
    log.warn({ path, domain_id: domainId, reason }, 'export domain file is not a valid export');
    invalid.push({ path, reason });
  };
  const { entries } = await hub.call(hostId, 'storage.file_list', {
    domain_id: domainId,
    dir: 'vms',
    recursive: true,
  });
  for (const e of entries) {
    const m = /^vms\/([^/]+)\/([^/]+)\.ovf$/.exec(e.path);
    if (e.kind !== 'file' || !m || m[1] !== m[2] || !UUID.test(m[1] as string)) continue;
    try {
      const { content } = await hub.call(hostId, 'storage.file_read', { domain_id: domainId, path: e.path });
      const doc = parseOvf(content);
      if (doc.id !== m[1]) throw new Error(`the OVF describes ${doc.id}, not ${m[1]}`);
      items.push({
        doc,
        format: 'ovf',
        ovaName: null,
        exportedAt: e.modified_at,
        origin: 'vireo',
        sources: null,
        warnings: [],
      });
    } catch (err) {
      refused(`master/${e.path}`, err);
    }
  }
  const { names, refused: badNames } = await hub.call(hostId, 'export.ova_list', { domain_id: domainId });
  for (const n of badNames ?? []) {
    invalid.push({
      path: `ova/${n}`,
      reason: 'the file name is not accepted: rename it to letters, digits and ._- (at most 64) + .ova',
    });
  }
  for (const name of names) {
    try {
      const ova = await hub.call(hostId, 'export.ova_read', { domain_id: domainId, name });
      const parsed = parseExportOvf(ova.ovf, `ova:${name}`);
      const doc = parsed.doc;
      const members = ova.members.slice(1).map((m) => m.name);
      const warnings = [...parsed.warnings];
      if (parsed.origin === 'foreign') {
        const images = new Set(parsed.sources.map((s) => s.href));
        const missing = [...images].filter((h) => !members.includes(h));
        if (missing.length > 0) throw new Error(`its OVF names images the OVA lacks: ${missing.join(', ')}`);
        for (const m of members.filter((n) => !images.has(n))) {
          warnings.push(SIDE_MEMBER.test(m) ? `${m} not verified` : `member ${m} is not used`);
        }
      } else {
        const expected = new Set(doc.disks.map((d) => `${d.disk_id}/${d.volume_id}`));
        if (members.length !== expected.size || members.some((n) => !expected.has(n))) {
          throw new Error('its images do not match the disks its OVF lists');
        }
        if (doc.disks.some((d) => d.format !== 'qcow2'))
          throw new Error('an OVA image is not declared qcow2');
      }
      items.push({
        doc,
        format: 'ova',
        ovaName: name,
        exportedAt: ova.modified_at,
        origin: parsed.origin,
        sources: parsed.sources,
        warnings,
      });
    } catch (err) {
      if (agentCodeOf(err) === 'file_not_found') continue; // removed meanwhile
      refused(`ova/${name}.ova`, err);
    }
  }
  items.sort((a, b) => a.doc.name.localeCompare(b.doc.name) || a.format.localeCompare(b.format));
  return { items, invalid };
}

/** The export of `entityId` on the domain (OVF preferred unless `source` says otherwise). */
export async function findExport(
  hub: AgentHub,
  hostId: string,
  domainId: string,
  entityId: string,
  source: 'ovf' | 'ova' | undefined,
  log: Logger,
): Promise<FoundExport> {
  const { items } = await readExports(hub, hostId, domainId, log);
  const matches = items.filter(
    (i) => i.doc.id === entityId.toLowerCase() && (!source || i.format === source),
  );
  const found = matches.find((m) => m.format === 'ovf') ?? matches[0];
  if (!found) {
    throw new NotFound(
      'export_not_found',
      `storage domain ${domainId} holds no valid export of ${entityId}`,
      {
        details: { storage_domain_id: domainId, entity_id: entityId, ...(source ? { source } : {}) },
      },
    );
  }
  return found;
}
