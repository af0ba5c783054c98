import { sql } from 'kysely';
import type { Executor } from '../schema';

/**
 * Templates and their disks. Raw SQL on purpose: the tables (migration 0013) are read and written
 * only here, so they stay out of the shared Kysely schema.
 */
export interface TemplateRow {
  id: string;
  name: string;
  description: string;
  cluster_id: string;
  version_of: string | null;
  version_number: number;
  cpus: number;
  memory_mib: number;
  os_type: string;
  boot_order: string[];
  nics: unknown[];
  /** `vnc` or `serial` (0019_template_console.sql): what VMs made from it get unless they say. */
  console_type: 'vnc' | 'serial';
  created_from_vm_id: string | null;
  state: 'locked' | 'ok' | 'illegal';
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** A template disk with its single (base) volume. */
export interface TemplateDiskRow {
  template_id: string;
  disk_id: string;
  position: number;
  interface: string;
  bootable: boolean;
  name: string;
  storage_domain_id: string;
  size_bytes: number;
  format: 'qcow2' | 'raw';
  volume_id: string;
  volume_format: 'qcow2' | 'raw';
  on_storage: boolean;
}

export type TemplateInsert = Omit<
  TemplateRow,
  'id' | 'version' | 'created_at' | 'updated_at' | 'state' | 'console_type'
> & { console_type?: TemplateRow['console_type'] };

export async function insertTemplate(ex: Executor, t: TemplateInsert): Promise<TemplateRow> {
  const { rows } = await sql<TemplateRow>`
    INSERT INTO templates (name, description, cluster_id, version_of, version_number, cpus, memory_mib,
                           os_type, boot_order, nics, created_from_vm_id, state, console_type)
    VALUES (${t.name}, ${t.description}, ${t.cluster_id}, ${t.version_of}, ${t.version_number}, ${t.cpus},
            ${t.memory_mib}, ${t.os_type}, ${JSON.stringify(t.boot_order)}::jsonb,
            ${JSON.stringify(t.nics)}::jsonb, ${t.created_from_vm_id}, 'locked', ${t.console_type ?? 'vnc'})
    RETURNING *`.execute(ex);
  return rows[0] as TemplateRow;
}

/**
 * A template row under a known id (an import or a domain registration brings a template back as
 * itself): `locked` until its disks are copied, or `ok` when they are on storage already.
 */
export async function insertTemplateWithId(
  ex: Executor,
  t: Omit<TemplateInsert, 'created_from_vm_id'> & { id: string },
  state: 'locked' | 'ok',
): Promise<void> {
  await sql`
    INSERT INTO templates (id, name, description, cluster_id, version_of, version_number, cpus, memory_mib,
                           os_type, boot_order, nics, state, console_type)
    VALUES (${t.id}, ${t.name}, ${t.description}, ${t.cluster_id}, ${t.version_of}, ${t.version_number},
            ${t.cpus}, ${t.memory_mib}, ${t.os_type}, ${JSON.stringify(t.boot_order)}::jsonb,
            ${JSON.stringify(t.nics)}::jsonb, ${state}, ${t.console_type ?? 'vnc'})`.execute(ex);
}

export async function findTemplate(ex: Executor, id: string, lock = false): Promise<TemplateRow | undefined> {
  const { rows } = lock
    ? await sql<TemplateRow>`SELECT * FROM templates WHERE id = ${id} FOR UPDATE`.execute(ex)
    : await sql<TemplateRow>`SELECT * FROM templates WHERE id = ${id}`.execute(ex);
  return rows[0];
}

/** Templates by name then id, `limit` after the (name, id) cursor. */
export async function listTemplates(
  ex: Executor,
  limit: number,
  after?: { name: string; id: string },
): Promise<TemplateRow[]> {
  const { rows } = after
    ? await sql<TemplateRow>`SELECT * FROM templates WHERE (name, id) > (${after.name}, ${after.id})
                             ORDER BY name, id LIMIT ${limit}`.execute(ex)
    : await sql<TemplateRow>`SELECT * FROM templates ORDER BY name, id LIMIT ${limit}`.execute(ex);
  return rows;
}

export async function updateTemplate(
  ex: Executor,
  id: string,
  patch: { name?: string; description?: string; state?: TemplateRow['state'] },
): Promise<TemplateRow | undefined> {
  const { rows } = await sql<TemplateRow>`
    UPDATE templates SET
      name = COALESCE(${patch.name ?? null}, name),
      description = COALESCE(${patch.description ?? null}, description),
      state = COALESCE(${patch.state ?? null}, state),
      version = version + 1, updated_at = now()
    WHERE id = ${id} RETURNING *`.execute(ex);
  return rows[0];
}

export async function insertTemplateDisk(
  ex: Executor,
  row: { template_id: string; disk_id: string; position: number; interface: string; bootable: boolean },
): Promise<void> {
  await sql`INSERT INTO template_disks (template_id, disk_id, position, interface, bootable)
            VALUES (${row.template_id}, ${row.disk_id}, ${row.position}, ${row.interface}, ${row.bootable})`.execute(
    ex,
  );
}

export async function templateDisks(ex: Executor, templateId: string): Promise<TemplateDiskRow[]> {
  const { rows } = await sql<TemplateDiskRow>`
    SELECT td.template_id, td.disk_id, td.position, td.interface, td.bootable, d.name, d.storage_domain_id,
           d.size_bytes::float8 AS size_bytes, d.format, v.id AS volume_id, v.format AS volume_format,
           v.on_storage
    FROM template_disks td
    JOIN disks d ON d.id = td.disk_id
    JOIN volumes v ON v.disk_id = d.id AND v.active
    WHERE td.template_id = ${templateId}
    ORDER BY td.position`.execute(ex);
  return rows.map((r) => ({ ...r, size_bytes: Number(r.size_bytes) }));
}

/** Disks whose volume chain rests on one of the template's base volumes (thin clones), with their VM. */
export async function thinClonesOf(
  ex: Executor,
  templateId: string,
): Promise<{ disk_id: string; vm_id: string | null; vm_name: string | null }[]> {
  const { rows } = await sql<{ disk_id: string; vm_id: string | null; vm_name: string | null }>`
    SELECT DISTINCT child.disk_id, m.id AS vm_id, m.name AS vm_name
    FROM template_disks td
    JOIN volumes base ON base.disk_id = td.disk_id
    JOIN volumes child ON child.parent_id = base.id AND child.disk_id <> td.disk_id
    LEFT JOIN vm_disk_attachments a ON a.disk_id = child.disk_id
    LEFT JOIN vms m ON m.id = a.vm_id
    WHERE td.template_id = ${templateId}
    ORDER BY m.name, child.disk_id`.execute(ex);
  return rows;
}

/** Deletes the template, its disk links and its disks (their volumes cascade). */
export async function deleteTemplateWithDisks(ex: Executor, templateId: string): Promise<void> {
  const { rows } = await sql<{ disk_id: string }>`
    DELETE FROM template_disks WHERE template_id = ${templateId} RETURNING disk_id`.execute(ex);
  await sql`DELETE FROM templates WHERE id = ${templateId}`.execute(ex);
  if (rows.length > 0) {
    await sql`DELETE FROM disks WHERE id IN (${sql.join(rows.map((r) => r.disk_id))})`.execute(ex);
  }
}

/** The template a disk is the base of, if any. */
export async function templateOfDisk(
  ex: Executor,
  diskId: string,
): Promise<{ id: string; name: string } | undefined> {
  const { rows } = await sql<{ id: string; name: string }>`
    SELECT t.id, t.name FROM template_disks td JOIN templates t ON t.id = td.template_id
    WHERE td.disk_id = ${diskId}`.execute(ex);
  return rows[0];
}
