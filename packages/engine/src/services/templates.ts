import type { TemplateCreate, TemplateUpdate } from '@vireo/api';
import type { Logger } from 'pino';
import { insertDiskWithVolume, listVmDisks, updateDisk } from '../db/repositories/disks';
import { isUniqueViolation } from '../db/repositories/pg-errors';
import {
  findTemplate,
  insertTemplate,
  insertTemplateDisk,
  listTemplates,
  type TemplateDiskRow,
  type TemplateRow,
  templateDisks,
  thinClonesOf,
  updateTemplate,
} from '../db/repositories/templates';
import { lockVm } from '../db/repositories/vms';
import type { Db, Executor } from '../db/schema';
import { ownedDiskName } from '../domain/storage/disk-names';
import { Conflict, NotFound, PreconditionFailed } from '../errors';
import type { Actor } from './actor';
import { vmIsDown } from './disks';
import type { AuditRecorder, OperationCreator } from './ports';
import { refuseSealWithoutAppliance } from './template-seal-check';
import type { ExpectedVersion } from './versioning';

/** A template with its disks, as routes hand it out. */
export type TemplateView = TemplateRow & { disks: TemplateDiskRow[] };

/** Use cases of templates. Copies and deletions on storage are operations; these check and queue. */
export interface TemplateService {
  list(limit: number): Promise<TemplateView[]>;
  /** @throws NotFound `template_not_found` */
  get(id: string): Promise<TemplateView>;
  /**
   * Creates a `locked` template from a VM that is down, with one new disk per VM disk, and queues
   * `template.create`, which copies each disk's active chain flattened into its template disk.
   */
  create(actor: Actor, input: TemplateCreate): Promise<{ template: TemplateView; operationId: string }>;
  update(actor: Actor, id: string, expected: ExpectedVersion, patch: TemplateUpdate): Promise<TemplateView>;
  /** Queues `template.delete`; refused (`template_in_use`) while thin clones rest on it. */
  delete(actor: Actor, id: string): Promise<{ operationId: string }>;
}

export function templateNotFound(id: string): NotFound {
  return new NotFound('template_not_found', `template ${id} does not exist`, { details: { id } });
}

function nameTaken(name: string): Conflict {
  return new Conflict('template_name_taken', `a template named ${name} exists already`, {
    details: { field: 'name', name },
  });
}

/** The 409 that names the thin clones a template cannot vanish under. */
export async function refuseIfThinClones(ex: Executor, t: TemplateRow): Promise<void> {
  const clones = await thinClonesOf(ex, t.id);
  if (clones.length === 0) return;
  const vms = [...new Map(clones.filter((c) => c.vm_id).map((c) => [c.vm_id, c.vm_name])).entries()];
  throw new Conflict(
    'template_in_use',
    `template ${t.name} has thin clones${vms.length ? `: ${vms.map(([, n]) => n).join(', ')}` : ''}; delete them first`,
    {
      details: {
        template_id: t.id,
        vms: vms.map(([id, name]) => ({ id, name })),
        disk_ids: clones.map((c) => c.disk_id),
      },
    },
  );
}

export function createTemplateService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  operations: OperationCreator;
}): TemplateService {
  const { db, audit, operations } = deps;

  async function view(ex: Executor, row: TemplateRow): Promise<TemplateView> {
    return { ...row, disks: await templateDisks(ex, row.id) };
  }

  async function lockOrThrow(tx: Executor, id: string): Promise<TemplateRow> {
    const row = await findTemplate(tx, id, true);
    if (!row) throw templateNotFound(id);
    return row;
  }

  return {
    async list(limit) {
      const rows = await listTemplates(db, limit);
      return Promise.all(rows.map((r) => view(db, r)));
    },

    async get(id) {
      const row = await findTemplate(db, id);
      if (!row) throw templateNotFound(id);
      return view(db, row);
    },

    async create(actor, input) {
      try {
        return await db.transaction().execute(async (tx) => {
          const vm = await lockVm(tx, input.vm_id);
          if (!vm) {
            throw new NotFound('vm_not_found', `VM ${input.vm_id} does not exist`, {
              details: { id: input.vm_id },
            });
          }
          if (!vmIsDown(vm)) {
            throw new Conflict('vm_not_down', `VM ${vm.name} must be down to become a template`, {
              details: { vm_id: vm.id, state: vm.state },
            });
          }
          const disks = (await listVmDisks(tx, [vm.id])).get(vm.id) ?? [];
          if (disks.length === 0) {
            throw new Conflict('vm_has_no_disks', `VM ${vm.name} has no disks to make a template of`, {
              details: { vm_id: vm.id },
            });
          }
          const busy = disks.find((d) => d.state !== 'ok');
          if (busy) {
            throw new Conflict('disk_locked', `disk ${busy.name} of VM ${vm.name} is ${busy.state}`, {
              details: { disk_id: busy.id, state: busy.state },
            });
          }
          if (input.seal === true)
            await refuseSealWithoutAppliance(
              tx,
              disks.map((d) => d.storage_domain_id),
            );
          const template = await insertTemplate(tx, {
            name: input.name,
            description: input.description ?? '',
            cluster_id: vm.cluster_id,
            version_of: null,
            version_number: 1,
            cpus: vm.cpus,
            memory_mib: vm.memory_mib,
            os_type: vm.os_type,
            boot_order: vm.boot_order as string[],
            nics: vm.nics as unknown[],
            console_type: vm.console_type === 'serial' ? 'serial' : 'vnc',
            created_from_vm_id: vm.id,
          });
          const pairs: { source_disk_id: string; disk_id: string }[] = [];
          for (const [i, d] of disks.entries()) {
            // The base lives in the source disk's domain: thin clones need it there (same domain).
            const { disk } = await insertDiskWithVolume(
              tx,
              {
                name: ownedDiskName(input.name, i),
                description: `base of template ${input.name}`,
                storage_domain_id: d.storage_domain_id,
                size_bytes: d.size_bytes,
                format: d.format,
                preallocation: 'off',
                shareable: false,
                state: 'locked',
              },
              false,
            );
            await insertTemplateDisk(tx, {
              template_id: template.id,
              disk_id: disk.id,
              position: d.position,
              interface: d.interface,
              bootable: d.bootable,
            });
            // The source must not change while it is copied.
            await updateDisk(tx, d.id, undefined, { state: 'locked' });
            pairs.push({ source_disk_id: d.id, disk_id: disk.id });
          }
          const op = await operations.create(tx, {
            type: 'template.create',
            target: { kind: 'template', id: template.id },
            createdBy: actor.userId,
            // seal: each copied disk is sealed in an appliance VM on its host (ADR 030).
            input: { vm_id: vm.id, disks: pairs, seal: input.seal === true },
          });
          await audit.record(tx, {
            kind: 'template.created',
            severity: 'info',
            message: `template ${template.name} is being created from VM ${vm.name} by ${actor.username}`,
            object: { kind: 'template', id: template.id, name: template.name },
            userId: actor.userId,
            username: actor.username,
            details: { vm_id: vm.id, operation_id: op.id, seal: input.seal === true },
          });
          return { template: await view(tx, template), operationId: op.id };
        });
      } catch (err) {
        if (isUniqueViolation(err, 'templates_name_key')) throw nameTaken(input.name);
        throw err;
      }
    },

    async update(actor, id, expected, patch) {
      try {
        return await db.transaction().execute(async (tx) => {
          const before = await lockOrThrow(tx, id);
          if (expected !== 'any' && expected !== before.version) {
            throw new PreconditionFailed('etag_mismatch', `template ${id} changed since it was read`, {
              details: { id, expected_version: expected, version: before.version },
            });
          }
          const after = (await updateTemplate(tx, id, patch)) as TemplateRow;
          await audit.record(tx, {
            kind: 'template.updated',
            severity: 'info',
            message: `template ${after.name} was updated by ${actor.username}`,
            object: { kind: 'template', id, name: after.name },
            userId: actor.userId,
            username: actor.username,
            details: { fields: Object.keys(patch) },
          });
          return view(tx, after);
        });
      } catch (err) {
        if (isUniqueViolation(err, 'templates_name_key')) throw nameTaken(patch.name ?? '');
        throw err;
      }
    },

    async delete(actor, id) {
      return db.transaction().execute(async (tx) => {
        const t = await lockOrThrow(tx, id);
        if (t.state === 'locked') {
          throw new Conflict('template_locked', `template ${t.name} is being created`, {
            details: { id, state: t.state },
          });
        }
        await refuseIfThinClones(tx, t);
        const op = await operations.create(tx, {
          type: 'template.delete',
          target: { kind: 'template', id },
          createdBy: actor.userId,
        });
        await updateTemplate(tx, id, { state: 'locked' });
        await audit.record(tx, {
          kind: 'template.deleting',
          severity: 'info',
          message: `template ${t.name} is being deleted by ${actor.username}`,
          object: { kind: 'template', id, name: t.name },
          userId: actor.userId,
          username: actor.username,
          details: { operation_id: op.id },
        });
        return { operationId: op.id };
      });
    },
  };
}
