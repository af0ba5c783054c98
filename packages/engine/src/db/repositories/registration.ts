import { sql } from 'kysely';
import type { UnregisteredDisk } from '../../domain/storage/unregistered';
import type { Executor } from '../schema';
import type { VmNicJson } from '../tables/vms';
import { type TemplateInsert, insertTemplateDisk, insertTemplateWithId } from './templates';
import { type VmFields, insertVm } from './vms';

/** Ids of the disks this engine knows in a domain (the scan skips them). */
export async function knownDiskIds(ex: Executor, domainId: string): Promise<string[]> {
  const rows = await ex.selectFrom('disks').select('id').where('storage_domain_id', '=', domainId).execute();
  return rows.map((r) => r.id);
}

/** Which of `ids` exist as disks anywhere (an id clash with a disk of another domain). */
export async function existingDiskIds(ex: Executor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await ex.selectFrom('disks').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}

export async function existingVmIds(ex: Executor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await ex.selectFrom('vms').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}

/** volume id → disk id of the registered template base volumes in a domain (thin clones lean on them). */
export async function templateBaseVolumes(ex: Executor, domainId: string): Promise<Map<string, string>> {
  // template_disks has no Kysely table type (the templates repository writes raw SQL too).
  const { rows } = await sql<{ volume_id: string; disk_id: string }>`
    SELECT v.id AS volume_id, d.id AS disk_id
      FROM template_disks t JOIN disks d ON d.id = t.disk_id JOIN volumes v ON v.disk_id = d.id
     WHERE d.storage_domain_id = ${domainId}`.execute(ex);
  return new Map(rows.map((r) => [r.volume_id, r.disk_id]));
}

/** Lower-cased VM names in use. */
export async function vmNamesLike(ex: Executor, name: string): Promise<Set<string>> {
  const prefix = name.toLowerCase().slice(0, 60);
  const rows = await ex
    .selectFrom('vms')
    .select('name')
    .where((eb) => eb(eb.fn('lower', ['name']), 'like', `${prefix.replaceAll(/[\\%_]/g, '\\$&')}%`))
    .execute();
  return new Set(rows.map((r) => r.name.toLowerCase()));
}

/** Inserts a disk found on storage and its volumes, root first (parents exist before children). */
export async function insertRegisteredDisk(
  ex: Executor,
  domainId: string,
  d: UnregisteredDisk & { name: string; format: 'qcow2' | 'raw'; size_bytes: number },
): Promise<void> {
  await ex
    .insertInto('disks')
    .values({
      id: d.id,
      name: d.name,
      description: d.description,
      storage_domain_id: domainId,
      size_bytes: d.size_bytes,
      format: d.format,
      preallocation: d.preallocation,
      shareable: d.shareable,
    })
    .execute();
  for (const v of d.volumes) {
    await ex
      .insertInto('volumes')
      .values({
        id: v.id,
        disk_id: d.id,
        parent_id: v.parent_id,
        format: v.format,
        active: v.active,
        size_bytes: v.size_bytes,
      })
      .execute();
  }
}

export interface RegisteredVmFields extends VmFields {
  id: string;
  cluster_id: string;
  nics: VmNicJson[];
  attachments: {
    disk_id: string;
    position: number;
    interface: 'virtio' | 'scsi' | 'ide' | 'sata';
    bootable: boolean;
  }[];
}

/** Inserts the VM (down) with its attachments; its disks must be inserted first. */
export async function insertRegisteredVm(ex: Executor, vm: RegisteredVmFields): Promise<void> {
  const { attachments, ...fields } = vm;
  await insertVm(ex, fields);
  for (const a of attachments) {
    await ex
      .insertInto('vm_disk_attachments')
      .values({ vm_id: vm.id, ...a })
      .execute();
  }
}

/** Which of `ids` are templates here. */
export async function existingTemplateIds(ex: Executor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`SELECT id FROM templates WHERE id = ANY(${ids}::uuid[])`.execute(
    ex,
  );
  return new Set(rows.map((r) => r.id));
}

/** Lower-cased template names starting like `name`. */
export async function templateNamesLike(ex: Executor, name: string): Promise<Set<string>> {
  const prefix = `${name
    .toLowerCase()
    .slice(0, 60)
    .replaceAll(/[\\%_]/g, '\\$&')}%`;
  const { rows } = await sql<{
    name: string;
  }>`SELECT name FROM templates WHERE lower(name) LIKE ${prefix}`.execute(ex);
  return new Set(rows.map((r) => r.name.toLowerCase()));
}

export interface RegisteredTemplateFields extends Omit<TemplateInsert, 'created_from_vm_id'> {
  id: string;
  disks: { disk_id: string; position: number; interface: string; bootable: boolean }[];
}

/** Inserts a template (ready: its base disks are on storage already) and its disks' rows. */
export async function insertRegisteredTemplate(ex: Executor, t: RegisteredTemplateFields): Promise<void> {
  const { disks, ...fields } = t;
  await insertTemplateWithId(ex, fields, 'ok');
  for (const d of disks) await insertTemplateDisk(ex, { template_id: t.id, ...d });
}
