import { templateOfDisk } from '../db/repositories/templates';
import type { Executor } from '../db/schema';
import { Conflict } from '../errors';

/**
 * Refuses disk work on a template's base disk: thin clones read its volume, so it must stay as it
 * is (no attaching to a VM that would write it, no deleting it apart from its template).
 */
export async function refuseTemplateDisk(ex: Executor, disk: { id: string; name: string }, what: string) {
  const template = await templateOfDisk(ex, disk.id);
  if (!template) return;
  throw new Conflict('disk_in_use', `disk ${disk.name} is the base of template ${template.name}; ${what}`, {
    details: { disk_id: disk.id, template_id: template.id },
  });
}
