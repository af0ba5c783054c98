import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { DiskRow, VolumeRow } from '../tables/disks';
import type { VmNicJson, VmRow } from '../tables/vms';
import { findTemplate, type TemplateDiskRow, type TemplateRow, templateDisks } from './templates';

/** A data domain's disk with its volumes (all of them, any order). */
export interface DomainDiskRows {
  disk: DiskRow;
  volumes: VolumeRow[];
}

/** One attachment of a VM with the disk's active volume (the leaf an OVF names). */
export interface VmAttachmentRow {
  disk_id: string;
  position: number;
  interface: 'virtio' | 'scsi' | 'ide' | 'sata';
  bootable: boolean;
  name: string;
  description: string;
  size_bytes: number;
  format: 'qcow2' | 'raw';
  storage_domain_id: string;
  /** The disk's state: a VM with a disk in flux keeps its last OVF. */
  state: 'ok' | 'locked' | 'illegal';
  volume_id: string | null;
}

/** Everything the OVF store writes for one domain, straight from the rows. */
export interface DomainStoreRows {
  disks: DomainDiskRows[];
  vms: { vm: VmRow; attachments: VmAttachmentRow[] }[];
  /** Templates with a disk on the domain (all their disks, base volumes). */
  templates: { template: TemplateRow; disks: TemplateDiskRow[] }[];
}

/** Disks of the domain with their volumes, and the VMs that have at least one of them attached. */
export async function domainStoreRows(ex: Executor, domainId: string): Promise<DomainStoreRows> {
  const disks = await ex.selectFrom('disks').selectAll().where('storage_domain_id', '=', domainId).execute();
  const ids = disks.map((d) => d.id);
  const volumes = ids.length
    ? await ex.selectFrom('volumes').selectAll().where('disk_id', 'in', ids).execute()
    : [];
  const byDisk = new Map<string, VolumeRow[]>();
  for (const v of volumes) byDisk.set(v.disk_id, [...(byDisk.get(v.disk_id) ?? []), v]);
  const vmIds = ids.length
    ? (
        await ex
          .selectFrom('vm_disk_attachments')
          .select('vm_id')
          .distinct()
          .where('disk_id', 'in', ids)
          .execute()
      ).map((r) => r.vm_id)
    : [];
  const vms = vmIds.length ? await ex.selectFrom('vms').selectAll().where('id', 'in', vmIds).execute() : [];
  const atts = vmIds.length
    ? await ex
        .selectFrom('vm_disk_attachments as a')
        .innerJoin('disks as d', 'd.id', 'a.disk_id')
        .leftJoin('volumes as v', (j) => j.onRef('v.disk_id', '=', 'd.id').on('v.active', '=', true))
        .select([
          'a.vm_id',
          'a.disk_id',
          'a.position',
          'a.interface',
          'a.bootable',
          'd.name',
          'd.description',
          'd.size_bytes',
          'd.format',
          'd.storage_domain_id',
          'd.state',
          'v.id as volume_id',
        ])
        .where('a.vm_id', 'in', vmIds)
        .orderBy('a.position')
        .execute()
    : [];
  const { rows: templateIds } = await sql<{ template_id: string }>`
    SELECT DISTINCT td.template_id FROM template_disks td JOIN disks d ON d.id = td.disk_id
     WHERE d.storage_domain_id = ${domainId}`.execute(ex);
  const templates: DomainStoreRows['templates'] = [];
  for (const { template_id } of templateIds) {
    const template = await findTemplate(ex, template_id);
    if (template) templates.push({ template, disks: await templateDisks(ex, template_id) });
  }
  return {
    templates,
    disks: disks.map((disk) => ({ disk, volumes: byDisk.get(disk.id) ?? [] })),
    vms: vms.map((vm) => ({
      vm,
      attachments: atts.filter((a) => a.vm_id === vm.id).map(({ vm_id: _, ...a }) => a),
    })),
  };
}

/** path → digest of what the OVF store last wrote on the domain. */
export async function recordedDomainFiles(ex: Executor, domainId: string): Promise<Map<string, string>> {
  const rows = await ex
    .selectFrom('domain_metadata_files')
    .select(['path', 'digest'])
    .where('storage_domain_id', '=', domainId)
    .execute();
  return new Map(rows.map((r) => [r.path, r.digest]));
}

export async function recordDomainFile(
  ex: Executor,
  domainId: string,
  path: string,
  digest: string,
): Promise<void> {
  await ex
    .insertInto('domain_metadata_files')
    .values({ storage_domain_id: domainId, path, digest })
    .onConflict((oc) =>
      oc.columns(['storage_domain_id', 'path']).doUpdateSet({ digest, written_at: new Date() }),
    )
    .execute();
}

export async function forgetDomainFile(ex: Executor, domainId: string, path?: string): Promise<void> {
  let q = ex.deleteFrom('domain_metadata_files').where('storage_domain_id', '=', domainId);
  if (path !== undefined) q = q.where('path', '=', path);
  await q.execute();
}

export type { VmNicJson };
