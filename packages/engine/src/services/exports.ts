import { randomUUID } from 'node:crypto';
import type { ExportImportRequest, ExportList, ExportRequest } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { domainOrThrow, hostForDomains } from '../controllers/disk-storage';
import { datacenterOfCluster, listVmDisks, updateDisk } from '../db/repositories/disks';
import { entityExists, insertImportedDisk, takenDiskIds, takenNames } from '../db/repositories/exports';
import { isUniqueViolation } from '../db/repositories/pg-errors';
import { findStorageDomain } from '../db/repositories/storage-domains';
import { findTemplate, insertTemplateDisk, insertTemplateWithId } from '../db/repositories/templates';
import { insertVm, lockVm } from '../db/repositories/vms';
import type { Db, Executor } from '../db/schema';
import type { StorageDomainRow } from '../db/tables/storage';
import type { VmNicJson } from '../db/tables/vms';
import { ownedDiskName } from '../domain/storage/disk-names';
import { randomMac } from '../domain/vm/mac';
import { Conflict, InvalidInput, NotFound } from '../errors';
import type { Actor } from './actor';
import { findExport, readExports, toExportEntry } from './export-catalog';
import { vmIsDown } from './disks';
import type { AuditRecorder, OperationCreator } from './ports';
import { createDiskKey } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';

/** The input of `vm.export` / `template.export` operations. */
export type ExportOpInput = {
  storage_domain_id: string;
  format: 'ovf' | 'ova';
  overwrite: boolean;
};

/** The input of `vm.import` / `template.import` operations. */
export type ImportOpInput = {
  export_domain_id: string;
  /** A foreign OVA (ADR 027): what the import skipped or changed, reported in the result. */
  warnings?: string[];
  source: { format: 'ovf' | 'ova'; ova_name: string | null };
  target_domain_id: string;
  /** Each exported disk image and the new disk/volume it becomes. */
  disks: {
    src_disk_id: string;
    src_volume_id: string;
    src_format: 'qcow2' | 'raw';
    disk_id: string;
    volume_id: string;
    size_bytes: number;
    /** A foreign OVA's member holding this disk's image, and its format (converted to qcow2). */
    src_member?: { file: string; format: 'vmdk' | 'qcow2' | 'raw' };
    /** The new disk has a key (it was encrypted where exported, or by default): written encrypted. */
    encrypted?: boolean;
  }[];
};

/** Export and import of VMs and templates (issue 5 item 6); storage work runs as operations. */
export interface ExportService {
  /** Queues `vm.export` for a VM that is down; its disks stay locked until the copy ends. */
  exportVm(actor: Actor, vmId: string, input: ExportRequest): Promise<{ operationId: string }>;
  /** Queues `template.export` for a template that is `ok`. */
  exportTemplate(actor: Actor, templateId: string, input: ExportRequest): Promise<{ operationId: string }>;
  /** What the export domain holds, read from storage through a host that sees it. */
  list(domainId: string): Promise<ExportList>;
  /**
   * Creates the VM (or template) from an export, with `locked` disks on the target data domain,
   * and queues `vm.import` / `template.import`, which copies the images.
   * @throws Conflict `name_in_use`, `id_in_use`; NotFound `export_not_found`
   */
  importExport(
    actor: Actor,
    exportDomainId: string,
    entityId: string,
    input: ExportImportRequest,
  ): Promise<{ operationId: string; kind: 'vm' | 'template'; id: string; name: string }>;
}

function requireActive(d: StorageDomainRow, kind: 'export' | 'data', field: string): void {
  if (d.kind !== kind) {
    throw new InvalidInput(
      'invalid_input',
      `storage domain ${d.name} is a ${d.kind} domain, not an ${kind} domain`,
      {
        details: { field, storage_domain_id: d.id, kind: d.kind },
      },
    );
  }
  if (d.state !== 'active') {
    throw new Conflict('storage_domain_state_invalid', `storage domain ${d.name} is ${d.state}, not active`, {
      details: { storage_domain_id: d.id, state: d.state },
    });
  }
}

/** The first free name among `name`, `name-1`, `name-2`, … (or `name` only when not renaming). */
async function chooseName(
  ex: Executor,
  kind: 'vm' | 'template',
  name: string,
  rename: boolean,
): Promise<string> {
  for (let start = 0; start < 1000; start += 50) {
    const candidates = Array.from({ length: 50 }, (_, i) =>
      start + i === 0 ? name : `${name.slice(0, 58)}-${start + i}`,
    );
    const taken = await takenNames(ex, kind, rename ? candidates : [name]);
    if (!rename) {
      if (taken.size === 0) return name;
      throw new Conflict(
        'name_in_use',
        `a ${kind === 'vm' ? 'VM' : 'template'} named ${name} exists already; import under another name or with on_clash "rename" (CLI: --name or --rename)`,
        {
          details: { field: 'name', name, hint: 'pass on_clash "rename" or another name' },
        },
      );
    }
    const free = candidates.find((c) => !taken.has(c.toLowerCase()));
    if (free) return free;
  }
  throw new Conflict('name_in_use', `no free name like ${name}-N`, { details: { name } });
}

export function createExportService(deps: {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  operations: OperationCreator;
  log: Logger;
  /** Wraps the new keys of imported disks that are encrypted again. */
  masterKey?: MasterKey;
  /** Setting `disks.encrypt_by_default`: imported qcow2 disks are encrypted even if they were not. */
  encryptByDefault?: boolean;
}): ExportService {
  const { db, hub, audit, operations } = deps;

  const log = deps.log.child({ module: 'engine:exports' });

  /** Queues `vm.export` / `template.export` and audits it; the caller checked and locked the entity. */
  async function queueExport(
    tx: Executor,
    actor: Actor,
    entity: { kind: 'vm' | 'template'; id: string; name: string },
    input: ExportRequest,
  ): Promise<{ operationId: string }> {
    const format = input.format ?? 'ovf';
    const opInput: ExportOpInput = {
      storage_domain_id: input.storage_domain_id,
      format,
      overwrite: input.overwrite ?? false,
    };
    const op = await operations.create(tx, {
      type: `${entity.kind}.export`,
      target: { kind: entity.kind, id: entity.id },
      createdBy: actor.userId,
      input: opInput,
    });
    await audit.record(tx, {
      kind: `${entity.kind}.exporting`,
      severity: 'info',
      message: `${entity.kind === 'vm' ? 'VM' : 'template'} ${entity.name} is being exported by ${actor.username}`,
      object: entity,
      userId: actor.userId,
      username: actor.username,
      details: { operation_id: op.id, storage_domain_id: input.storage_domain_id, format },
    });
    return { operationId: op.id };
  }

  return {
    async exportVm(actor, vmId, input) {
      return db.transaction().execute(async (tx) => {
        const vm = await lockVm(tx, vmId);
        if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
        if (!vmIsDown(vm)) {
          throw new Conflict('vm_not_down', `VM ${vm.name} must be down to be exported`, {
            details: { vm_id: vm.id, state: vm.state },
          });
        }
        requireActive(await domainOrThrow(tx, input.storage_domain_id), 'export', 'storage_domain_id');
        const disks = (await listVmDisks(tx, [vm.id])).get(vm.id) ?? [];
        for (const d of disks) {
          if (d.state !== 'ok') {
            throw new Conflict('disk_locked', `disk ${d.name} of VM ${vm.name} is ${d.state}`, {
              details: { disk_id: d.id, state: d.state },
            });
          }
        }
        // Encrypted disks are decrypted into the export domain (docs/export-import.md).
        for (const d of disks) await updateDisk(tx, d.id, undefined, { state: 'locked' });
        return queueExport(tx, actor, { kind: 'vm', id: vm.id, name: vm.name }, input);
      });
    },

    async exportTemplate(actor, templateId, input) {
      return db.transaction().execute(async (tx) => {
        const t = await findTemplate(tx, templateId, true);
        if (!t)
          throw new NotFound('template_not_found', `template ${templateId} does not exist`, {
            details: { id: templateId },
          });
        if (t.state !== 'ok') {
          throw new Conflict('template_locked', `template ${t.name} is ${t.state}`, {
            details: { id: t.id, state: t.state },
          });
        }
        requireActive(await domainOrThrow(tx, input.storage_domain_id), 'export', 'storage_domain_id');
        return queueExport(tx, actor, { kind: 'template', id: t.id, name: t.name }, input);
      });
    },

    async list(domainId) {
      const domain = await domainOrThrow(db, domainId);
      requireActive(domain, 'export', 'id');
      const host = await hostForDomains(db, hub, [domain]);
      const { items, invalid } = await readExports(hub, host, domain.id, log);
      return { items: items.map(toExportEntry), invalid };
    },

    async importExport(actor, exportDomainId, entityId, input) {
      const exportDomain = await domainOrThrow(db, exportDomainId);
      requireActive(exportDomain, 'export', 'id');
      const target = await domainOrThrow(db, input.storage_domain_id);
      requireActive(target, 'data', 'storage_domain_id');
      const dc = await datacenterOfCluster(db, input.cluster_id);
      if (!dc) {
        throw new NotFound('cluster_not_found', `cluster ${input.cluster_id} does not exist`, {
          details: { id: input.cluster_id },
        });
      }
      if (target.datacenter_id !== dc) {
        throw new InvalidInput(
          'invalid_input',
          `storage domain ${target.name} is not in the cluster's data center`,
          {
            details: { field: 'storage_domain_id', storage_domain_id: target.id },
          },
        );
      }
      const host = await hostForDomains(db, hub, [exportDomain, target]);
      const found = await findExport(hub, host, exportDomain.id, entityId, input.source, log);
      const doc = found.doc;
      const newIds = input.new_ids ?? false;
      try {
        return await db.transaction().execute(async (tx) => {
          const id = newIds ? randomUUID() : doc.id;
          // The name first: a clash there is what a person re-importing meets first.
          const name = await chooseName(tx, doc.kind, input.name ?? doc.name, input.on_clash === 'rename');
          if (!newIds) {
            if (await entityExists(tx, doc.kind, doc.id)) {
              throw new Conflict(
                'id_in_use',
                `${doc.kind === 'vm' ? 'VM' : 'template'} ${doc.id} still exists here; import with new_ids`,
                {
                  details: { id: doc.id, hint: 'pass new_ids true' },
                },
              );
            }
            const clash = await takenDiskIds(
              tx,
              doc.disks.flatMap((d) => [d.disk_id, d.volume_id]),
            );
            if (clash.length > 0) {
              throw new Conflict('id_in_use', `disks of ${doc.name} still exist here; import with new_ids`, {
                details: { ids: clash, hint: 'pass new_ids true' },
              });
            }
          }
          const disks: ImportOpInput['disks'] = doc.disks.map((d) => ({
            src_disk_id: d.disk_id,
            src_volume_id: d.volume_id,
            src_format: d.format,
            disk_id: newIds ? randomUUID() : d.disk_id,
            volume_id: newIds ? randomUUID() : d.volume_id,
            size_bytes: d.size_bytes,
          }));
          // An OVA's images are qcow2 whatever the disk was; an OVF copy keeps its format.
          const formatOf = (d: (typeof doc.disks)[number]) => (found.format === 'ova' ? 'qcow2' : d.format);
          const nics: VmNicJson[] = doc.nics.map((n) => {
            // A foreign OVF's MACs are another platform's: never reused.
            const mac = newIds || found.origin === 'foreign' ? randomMac() : n.mac;
            if (found.origin === 'foreign' && input.bridge)
              return { type: 'bridge', bridge: input.bridge, mac, model: n.model };
            return n.type === 'bridge'
              ? { type: 'bridge', bridge: n.bridge, mac, model: n.model }
              : { type: 'user', mac, model: n.model };
          });
          const cdromDomain =
            doc.cdrom && 'file' in doc.cdrom
              ? await findStorageDomain(tx, doc.cdrom.storage_domain_id)
              : undefined;
          if (doc.kind === 'vm') {
            await insertVm(tx, {
              id,
              name,
              cluster_id: input.cluster_id,
              cpus: doc.cpus,
              memory_mib: doc.memory_mib,
              os_type: doc.os_type,
              boot_order: doc.boot_order,
              // An ISO domain of another engine is unknown here: the CD-ROM comes back empty.
              cdrom_image: doc.cdrom && 'image' in doc.cdrom ? doc.cdrom.image : null,
              cdrom_storage_domain_id:
                cdromDomain && doc.cdrom && 'file' in doc.cdrom ? cdromDomain.id : null,
              cdrom_file: cdromDomain && doc.cdrom && 'file' in doc.cdrom ? doc.cdrom.file : null,
              nics,
              console_type: doc.console,
            });
          } else {
            const base = doc.template?.version_of
              ? await findTemplate(tx, doc.template.version_of)
              : undefined;
            await insertTemplateWithId(
              tx,
              {
                id,
                name,
                description: doc.description,
                cluster_id: input.cluster_id,
                version_of: base ? base.id : null,
                version_number: base ? (doc.template?.version_number ?? 1) : 1,
                cpus: doc.cpus,
                memory_mib: doc.memory_mib,
                os_type: doc.os_type,
                boot_order: doc.boot_order,
                nics,
                console_type: doc.console,
              },
              'locked',
            );
          }
          for (const [i, d] of doc.disks.entries()) {
            const ids = disks[i] as (typeof disks)[number];
            await insertImportedDisk(tx, {
              disk_id: ids.disk_id,
              volume_id: ids.volume_id,
              name: ownedDiskName(name, i),
              description: doc.kind === 'template' ? `base of template ${name}` : d.description,
              storage_domain_id: target.id,
              size_bytes: d.size_bytes,
              format: formatOf(d),
            });
            // Encrypted again under a new key of this engine when it was encrypted where it came
            // from, or by default; an OVA's images are extracted by the agent, which cannot
            // encrypt them yet, and a raw disk has no LUKS header.
            const encrypt =
              found.format === 'ovf' &&
              formatOf(d) === 'qcow2' &&
              deps.masterKey !== undefined &&
              (d.encrypted === true || deps.encryptByDefault === true);
            if (encrypt && deps.masterKey) {
              await createDiskKey(tx, deps.masterKey, ids.disk_id);
              ids.encrypted = true;
            }
            if (doc.kind === 'vm') {
              await tx
                .insertInto('vm_disk_attachments')
                .values({
                  vm_id: id,
                  disk_id: ids.disk_id,
                  position: d.position,
                  interface: d.interface,
                  bootable: d.bootable,
                  active: true,
                })
                .execute();
            } else {
              await insertTemplateDisk(tx, {
                template_id: id,
                disk_id: ids.disk_id,
                position: d.position,
                interface: d.interface,
                bootable: d.bootable,
              });
            }
          }
          for (const s of found.sources ?? []) {
            const i = doc.disks.findIndex((d) => d.disk_id === s.disk_id);
            (disks[i] as ImportOpInput['disks'][number]).src_member = { file: s.href, format: s.format };
          }
          const opInput: ImportOpInput = {
            ...(found.warnings.length > 0 ? { warnings: found.warnings } : {}),
            export_domain_id: exportDomain.id,
            source: { format: found.format, ova_name: found.ovaName },
            target_domain_id: target.id,
            disks,
          };
          const op = await operations.create(tx, {
            type: doc.kind === 'vm' ? 'vm.import' : 'template.import',
            target: { kind: doc.kind, id },
            createdBy: actor.userId,
            input: opInput,
          });
          await audit.record(tx, {
            kind: `${doc.kind}.importing`,
            severity: 'info',
            message: `${doc.kind === 'vm' ? 'VM' : 'template'} ${name} is being imported from ${exportDomain.name} by ${actor.username}`,
            object: { kind: doc.kind, id, name },
            userId: actor.userId,
            username: actor.username,
            details: {
              operation_id: op.id,
              exported_id: doc.id,
              format: found.format,
              origin: found.origin,
              ...(found.warnings.length > 0 ? { warnings: found.warnings } : {}),
            },
          });
          return { operationId: op.id, kind: doc.kind, id, name };
        });
      } catch (err) {
        // A concurrent import or create took the name between the check and the insert.
        if (isUniqueViolation(err, 'vms_name_key') || isUniqueViolation(err, 'templates_name_key')) {
          throw new Conflict('name_in_use', `the name ${input.name ?? doc.name} was just taken; retry`, {
            details: { field: 'name' },
          });
        }
        // A concurrent import of the same export took the ids first.
        if (
          ['vms_pkey', 'templates_pkey', 'disks_pkey', 'volumes_pkey'].some((c) => isUniqueViolation(err, c))
        ) {
          throw new Conflict(
            'id_in_use',
            `${doc.name} was just imported by another request; import with new_ids`,
            {
              details: { id: doc.id, hint: 'pass new_ids true' },
            },
          );
        }
        throw err;
      }
    },
  };
}
