import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { DiskFormat } from '../tables/disks';

/**
 * Rows an import creates with the exported ids (so an exported VM comes back as itself), and the
 * name look-ups of the name-clash rule. Templates use raw SQL like repositories/templates.ts.
 */

/** Which of `names` are taken (case-insensitively) by VMs or templates (`kind`). */
export async function takenNames(
  ex: Executor,
  kind: 'vm' | 'template',
  names: string[],
): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const lower = names.map((n) => n.toLowerCase());
  const { rows } =
    kind === 'vm'
      ? await sql<{
          name: string;
        }>`SELECT lower(name) AS name FROM vms WHERE lower(name) IN (${sql.join(lower)})`.execute(ex)
      : await sql<{
          name: string;
        }>`SELECT lower(name) AS name FROM templates WHERE lower(name) IN (${sql.join(lower)})`.execute(ex);
  return new Set(rows.map((r) => r.name));
}

/** Whether a VM or template with this id exists. */
export async function entityExists(ex: Executor, kind: 'vm' | 'template', id: string): Promise<boolean> {
  const { rows } =
    kind === 'vm'
      ? await sql<{ id: string }>`SELECT id FROM vms WHERE id = ${id}`.execute(ex)
      : await sql<{ id: string }>`SELECT id FROM templates WHERE id = ${id}`.execute(ex);
  return rows.length > 0;
}

/** Ids among `ids` that already name a disk or a volume. */
export async function takenDiskIds(ex: Executor, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    SELECT id FROM disks WHERE id IN (${sql.join(ids)})
    UNION SELECT id FROM volumes WHERE id IN (${sql.join(ids)})`.execute(ex);
  return rows.map((r) => r.id);
}

export async function setTemplateState(ex: Executor, id: string, state: 'ok' | 'illegal'): Promise<void> {
  await sql`UPDATE templates SET state = ${state}, updated_at = now() WHERE id = ${id}`.execute(ex);
}

/** A `locked` disk with its single volume (not on storage yet), both with the given ids. */
export async function insertImportedDisk(
  ex: Executor,
  d: {
    disk_id: string;
    volume_id: string;
    name: string;
    description: string;
    storage_domain_id: string;
    size_bytes: number;
    format: DiskFormat;
  },
): Promise<void> {
  await ex
    .insertInto('disks')
    .values({
      id: d.disk_id,
      name: d.name,
      description: d.description,
      storage_domain_id: d.storage_domain_id,
      size_bytes: d.size_bytes,
      format: d.format,
      state: 'locked',
    })
    .execute();
  await ex
    .insertInto('volumes')
    .values({
      id: d.volume_id,
      disk_id: d.disk_id,
      format: d.format,
      size_bytes: d.size_bytes,
      on_storage: false,
    })
    .execute();
}

/** Forgets what a failed import created: the VM or template, its attachments and its disks. */
export async function deleteImported(
  ex: Executor,
  kind: 'vm' | 'template',
  id: string,
  diskIds: string[],
): Promise<void> {
  if (kind === 'vm') await sql`DELETE FROM vms WHERE id = ${id}`.execute(ex);
  else {
    await sql`DELETE FROM template_disks WHERE template_id = ${id}`.execute(ex);
    await sql`DELETE FROM templates WHERE id = ${id}`.execute(ex);
  }
  if (diskIds.length > 0) await sql`DELETE FROM disks WHERE id IN (${sql.join(diskIds)})`.execute(ex);
}
