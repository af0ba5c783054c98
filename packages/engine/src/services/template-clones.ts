import { sql } from 'kysely';
import type { TemplateVmCreate } from '@vireo/api';
import { insertAttachment, insertDiskWithVolume } from '../db/repositories/disks';
import { isUniqueViolation } from '../db/repositories/pg-errors';
import { findTemplate, templateDisks } from '../db/repositories/templates';
import { insertVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import type { DiskInterface } from '../db/tables/disks';
import type { VmNicJson } from '../db/tables/vms';
import { ownedDiskName } from '../domain/storage/disk-names';
import { randomMac } from '../domain/vm/mac';
import { Conflict } from '../errors';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';
import { templateNotFound } from './templates';

/** One clone disk as `vm.clone` gets it: the new disk and the template volume it starts from. */
export interface CloneDiskInput {
  disk_id: string;
  template_disk_id: string;
  template_volume_id: string;
}

/**
 * Creates a VM from a template: its hardware, fresh MAC addresses, and one `locked` disk per
 * template disk in the template disk's domain, then queues `vm.clone`, which makes each disk's
 * volume: a qcow2 overlay on the template volume (`thin`) or a flattened copy of it (`full`).
 * A thin disk's volume records the template volume as its parent, which is what keeps the template
 * from being deleted under it.
 */
export async function cloneTemplate(
  deps: { db: Db; audit: AuditRecorder; operations: OperationCreator },
  actor: Actor,
  templateId: string,
  input: TemplateVmCreate,
): Promise<{ vmId: string; operationId: string }> {
  const mode = input.clone ?? 'thin';
  try {
    return await deps.db.transaction().execute(async (tx) => {
      const t = await findTemplate(tx, templateId, true);
      if (!t) throw templateNotFound(templateId);
      if (t.state !== 'ok') {
        throw new Conflict('template_locked', `template ${t.name} is ${t.state}`, {
          details: { id: t.id, state: t.state },
        });
      }
      const nics = (t.nics as VmNicJson[]).map((n) => ({ ...n, mac: randomMac() }));
      const vm = await insertVm(tx, {
        name: input.name,
        cpus: t.cpus,
        memory_mib: t.memory_mib,
        os_type: t.os_type,
        boot_order: t.boot_order,
        cdrom_image: null,
        cluster_id: t.cluster_id,
        nics,
        console_type: input.console ?? t.console_type,
      });
      const disks: CloneDiskInput[] = [];
      for (const [i, td] of (await templateDisks(tx, t.id)).entries()) {
        const { disk, volume } = await insertDiskWithVolume(
          tx,
          {
            name: ownedDiskName(input.name, i),
            description: `${mode} clone of template ${t.name}`,
            storage_domain_id: td.storage_domain_id,
            size_bytes: td.size_bytes,
            // An overlay is always qcow2; a full copy keeps the template's format.
            format: mode === 'thin' ? 'qcow2' : td.format,
            preallocation: 'off',
            shareable: false,
            state: 'locked',
          },
          false,
        );
        if (mode === 'thin') {
          await sql`UPDATE volumes SET parent_id = ${td.volume_id} WHERE id = ${volume.id}`.execute(tx);
        }
        await insertAttachment(tx, {
          vm_id: vm.id,
          disk_id: disk.id,
          position: td.position,
          interface: td.interface as DiskInterface,
          bootable: td.bootable,
          active: true,
        });
        disks.push({ disk_id: disk.id, template_disk_id: td.disk_id, template_volume_id: td.volume_id });
      }
      const op = await deps.operations.create(tx, {
        type: 'vm.clone',
        target: { kind: 'vm', id: vm.id },
        createdBy: actor.userId,
        input: { template_id: t.id, clone: mode, disks },
      });
      await deps.audit.record(tx, {
        kind: 'vm.created',
        severity: 'info',
        message: `VM ${vm.name} was created as a ${mode} clone of template ${t.name} by ${actor.username}`,
        object: { kind: 'vm', id: vm.id, name: vm.name },
        userId: actor.userId,
        username: actor.username,
        details: { template_id: t.id, clone: mode, operation_id: op.id },
      });
      return { vmId: vm.id, operationId: op.id };
    });
  } catch (err) {
    if (isUniqueViolation(err, 'vms_name_key')) {
      throw new Conflict('vm_name_taken', `a VM named "${input.name}" already exists`, {
        details: { name: input.name },
        cause: err,
      });
    }
    throw err;
  }
}
