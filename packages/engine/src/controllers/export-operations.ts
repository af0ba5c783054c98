import type { VolumeSourceEncryption } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { activeVolume, listVmDisks, setVolumeOnStorage, updateDisk } from '../db/repositories/disks';
import { deleteImported, setTemplateState } from '../db/repositories/exports';
import { findTemplate, templateDisks } from '../db/repositories/templates';
import { findVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import { type OvfDisk, type OvfEntity, type OvfNic, parseOvf, writeOvf } from '../domain/ovf';
import { Conflict, NotFound } from '../errors';
import type { OperationContext, OperationRegistry } from '../operations';
import { Reverter } from '../setup/reverter';
import { exportOvfPath, templateOvf, vmOvf } from '../services/export-catalog';
import type { ExportOpInput, ImportOpInput } from '../services/exports';
import type { AuditRecorder } from '../services/ports';
import { isDiskEncrypted } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';
import { sourceKeysOf, targetKeyOf } from '../secrets/volume-keys';
import { COPY_TIMEOUT_MS, domainOrThrow, followAgentJob, hostForDomains } from './disk-storage';
import { agentCodeOf } from './vm-controller';

interface Deps {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  log: Logger;
  /** Opens encrypted disks for export (decrypted into the export domain) and re-encrypts imports. */
  masterKey?: MasterKey;
}

/**
 * Runs one agent job (`volume.copy`, `export.ova_*`) on `hostId`, mapping its `job.progress`
 * events onto [from, to] of the operation's progress, and cancelling the copy when the operation is.
 */
async function withJobProgress<T>(
  deps: Deps,
  ctx: OperationContext,
  hostId: string,
  range: [number, number],
  message: string,
  run: (jobId: string) => Promise<T>,
): Promise<T> {
  await ctx.progress(range[0], message);
  return followAgentJob(deps.hub, ctx, hostId, { range, label: message }, run);
}

interface ExportSource {
  kind: 'vm' | 'template';
  id: string;
  name: string;
  /** Volumes to copy: the active (leaf) volume of each disk, copied flattened. */
  disks: {
    id: string;
    name: string;
    domain_id: string;
    volume_id: string;
    volume_format: 'qcow2' | 'raw';
    format: 'qcow2' | 'raw';
  }[];
  ovf(forOva: boolean): { entity: OvfEntity; disks: OvfDisk[]; nics: OvfNic[] };
}

/** A disk of a VM or template as the export copies it (its active volume). */
function sourceDisk(
  id: string,
  d: {
    name: string;
    storage_domain_id: string;
    volume_id: string;
    volume_format: 'qcow2' | 'raw';
    format: 'qcow2' | 'raw';
  },
): ExportSource['disks'][number] {
  return {
    id,
    name: d.name,
    domain_id: d.storage_domain_id,
    volume_id: d.volume_id,
    volume_format: d.volume_format,
    format: d.format,
  };
}

async function exportTo(
  deps: Deps,
  ctx: OperationContext,
  src: ExportSource,
  input: ExportOpInput,
): Promise<Record<string, unknown>> {
  const exportDomain = await domainOrThrow(deps.db, input.storage_domain_id);
  const dataDomains = await Promise.all(
    [...new Set(src.disks.map((d) => d.domain_id))].map((id) => domainOrThrow(deps.db, id)),
  );
  const host = await hostForDomains(deps.db, deps.hub, [exportDomain, ...dataDomains]);
  const r = new Reverter();
  try {
    const forOva = input.format === 'ova';
    const doc = src.ovf(forOva);
    // The export domain is portable: another engine cannot have our keys, so images go out
    // decrypted and the OVF says which disks were encrypted (an import encrypts them again).
    const encrypted = new Set<string>();
    const keysOf = new Map<string, VolumeSourceEncryption>();
    for (const d of src.disks) {
      if (await isDiskEncrypted(deps.db, d.id)) encrypted.add(d.id);
      const keys = await sourceKeysOf(deps.db, deps.masterKey, d.id);
      if (keys) keysOf.set(d.id, keys);
    }
    const text = writeOvf(
      doc.entity,
      doc.disks.map((d) => (encrypted.has(d.disk_id) ? { ...d, encrypted: true } : d)),
      doc.nics,
    );
    let result: Record<string, unknown>;
    if (forOva) {
      const packed = await withJobProgress(deps, ctx, host, [0.05, 0.95], 'packing the OVA', (jobId) =>
        deps.hub
          .call(
            host,
            'export.ova_pack',
            {
              job_id: jobId,
              domain_id: exportDomain.id,
              name: src.name,
              ovf: text,
              disks: src.disks.map((d) => ({
                from: {
                  domain_id: d.domain_id,
                  disk_id: d.id,
                  volume_id: d.volume_id,
                  format: d.volume_format,
                },
                member: { disk_id: d.id, volume_id: d.volume_id },
                ...(keysOf.has(d.id) ? { source_encryption: keysOf.get(d.id) } : {}),
              })),
              overwrite: input.overwrite,
            },
            { timeoutMs: COPY_TIMEOUT_MS },
          )
          .catch((err: unknown) => {
            if (agentCodeOf(err) === 'image_exists') {
              throw new Conflict(
                'export_exists',
                `${exportDomain.name} already holds ova/${src.name}.ova; pass overwrite`,
                {
                  details: { storage_domain_id: exportDomain.id, ova_name: src.name },
                },
              );
            }
            throw err;
          }),
      );
      result = { format: 'ova', ova_name: packed.name, size_bytes: packed.size_bytes };
    } else {
      const path = exportOvfPath(src.id);
      const existing = await deps.hub
        .call(host, 'storage.file_read', { domain_id: exportDomain.id, path })
        .catch((err: unknown) => {
          if (agentCodeOf(err) === 'file_not_found') return undefined;
          throw err;
        });
      if (existing) {
        if (!input.overwrite) {
          throw new Conflict(
            'export_exists',
            `${exportDomain.name} already holds an export of ${src.name}; pass overwrite`,
            {
              details: { storage_domain_id: exportDomain.id, entity_id: src.id },
            },
          );
        }
        // The OVF goes first: a half-replaced export must not look complete.
        let old: OvfDisk[] = [];
        try {
          old = parseOvf(existing.content).disks;
        } catch {
          // A broken old OVF: only its file is replaced.
        }
        await deps.hub.call(host, 'storage.file_delete', {
          domain_id: exportDomain.id,
          path: `vms/${src.id}`,
          recursive: true,
        });
        for (const d of old)
          await deps.hub.call(host, 'volume.delete', { domain_id: exportDomain.id, disk_id: d.disk_id });
      }
      for (const [i, d] of src.disks.entries()) {
        ctx.signal.throwIfAborted();
        const span = 0.9 / Math.max(1, src.disks.length);
        // Leftovers of an interrupted attempt.
        await deps.hub.call(host, 'volume.delete', { domain_id: exportDomain.id, disk_id: d.id });
        r.add(`remove the exported copy of ${d.name}`, () =>
          deps.hub.call(host, 'volume.delete', { domain_id: exportDomain.id, disk_id: d.id }),
        );
        const keys = keysOf.get(d.id);
        await withJobProgress(
          deps,
          ctx,
          host,
          [0.05 + i * span, 0.05 + (i + 1) * span],
          `copying disk ${d.name}`,
          (jobId) =>
            deps.hub.call(
              host,
              'volume.copy',
              {
                job_id: jobId,
                from: {
                  domain_id: d.domain_id,
                  disk_id: d.id,
                  volume_id: d.volume_id,
                  format: d.volume_format,
                },
                to: { domain_id: exportDomain.id, disk_id: d.id, volume_id: d.volume_id, format: d.format },
                ...(keys ? { source_encryption: keys } : {}),
              },
              { timeoutMs: COPY_TIMEOUT_MS },
            ),
        );
      }
      await deps.hub.call(host, 'storage.file_write', { domain_id: exportDomain.id, path, content: text });
      result = { format: 'ovf', path: `master/${path}` };
    }
    r.success();
    await deps.audit.record(deps.db, {
      kind: `${src.kind}.exported`,
      severity: 'info',
      message: `${src.kind === 'vm' ? 'VM' : 'template'} ${src.name} was exported to ${exportDomain.name} (${input.format})`,
      object: { kind: src.kind, id: src.id, name: src.name },
      details: { operation_id: ctx.op.id, storage_domain_id: exportDomain.id, ...result },
    });
    return { [`${src.kind}_id`]: src.id, storage_domain_id: exportDomain.id, ...result };
  } catch (err) {
    await r.revert((what, e) => ctx.log.warn({ err: e, step: what }, 'export revert step failed'));
    throw err;
  }
}

async function importFrom(
  deps: Deps,
  ctx: OperationContext,
  kind: 'vm' | 'template',
  id: string,
  input: ImportOpInput,
): Promise<Record<string, unknown>> {
  const exists = kind === 'vm' ? await findVm(deps.db, id) : await findTemplate(deps.db, id);
  if (!exists)
    throw new NotFound(kind === 'vm' ? 'vm_not_found' : 'template_not_found', `${kind} ${id} is gone`);
  const exportDomain = await domainOrThrow(deps.db, input.export_domain_id);
  const target = await domainOrThrow(deps.db, input.target_domain_id);
  const diskIds = input.disks.map((d) => d.disk_id);
  try {
    const host = await hostForDomains(deps.db, deps.hub, [exportDomain, target]);
    // Leftovers of an interrupted attempt (the rows say nothing is on storage yet).
    for (const d of input.disks) {
      const v = await activeVolume(deps.db, d.disk_id);
      if (v && !v.on_storage)
        await deps.hub.call(host, 'volume.delete', { domain_id: target.id, disk_id: d.disk_id });
    }
    if (input.source.format === 'ova') {
      const ovaName = input.source.ova_name as string;
      await withJobProgress(deps, ctx, host, [0.05, 0.95], `extracting ${ovaName}.ova`, (jobId) =>
        deps.hub.call(
          host,
          'export.ova_extract',
          {
            job_id: jobId,
            domain_id: exportDomain.id,
            name: ovaName,
            disks: input.disks.map((d) => ({
              member: d.src_member ?? { disk_id: d.src_disk_id, volume_id: d.src_volume_id },
              to: {
                domain_id: target.id,
                disk_id: d.disk_id,
                volume_id: d.volume_id,
                format: 'qcow2' as const,
              },
              max_virtual_size: d.size_bytes,
            })),
          },
          { timeoutMs: COPY_TIMEOUT_MS },
        ),
      );
    } else {
      // The export domain may come from anywhere: every image passes the hostile-image gate before
      // anything reads it, and what they hold must fit in the target domain.
      let needed = 0;
      for (const d of input.disks) {
        const checked = await deps.hub.call(host, 'export.check_volume', {
          domain_id: exportDomain.id,
          disk_id: d.src_disk_id,
          volume_id: d.src_volume_id,
          format: d.src_format,
          max_virtual_size: d.size_bytes,
        });
        needed += checked.actual_size;
      }
      const { free_bytes: free } = await deps.hub.call(host, 'storage.capacity', { id: target.id });
      if (needed > free) {
        throw new Conflict(
          'image_too_large',
          `the images need ${needed} bytes; ${target.name} has ${free} free`,
          {
            details: { storage_domain_id: target.id, needed_bytes: needed, free_bytes: free },
          },
        );
      }
      for (const [i, d] of input.disks.entries()) {
        ctx.signal.throwIfAborted();
        const v = await activeVolume(deps.db, d.disk_id);
        if (!v) throw new Error(`imported disk ${d.disk_id} lost its volume`);
        const span = 0.9 / Math.max(1, input.disks.length);
        // A disk given a key at import time is written encrypted under it.
        const target_encryption = d.encrypted
          ? await targetKeyOf(deps.db, deps.masterKey, d.disk_id)
          : undefined;
        await withJobProgress(
          deps,
          ctx,
          host,
          [0.05 + i * span, 0.05 + (i + 1) * span],
          `copying disk ${i + 1}`,
          (jobId) =>
            deps.hub.call(
              host,
              'volume.copy',
              {
                job_id: jobId,
                from: {
                  domain_id: exportDomain.id,
                  disk_id: d.src_disk_id,
                  volume_id: d.src_volume_id,
                  format: d.src_format,
                },
                to: { domain_id: target.id, disk_id: d.disk_id, volume_id: d.volume_id, format: v.format },
                ...(target_encryption ? { target_encryption } : {}),
              },
              { timeoutMs: COPY_TIMEOUT_MS },
            ),
        );
      }
    }
    const name = (exists as { name: string }).name;
    await deps.db.transaction().execute(async (tx) => {
      for (const d of input.disks) {
        await setVolumeOnStorage(tx, d.volume_id);
        await updateDisk(tx, d.disk_id, undefined, { state: 'ok' });
      }
      if (kind === 'template') await setTemplateState(tx, id, 'ok');
      await deps.audit.record(tx, {
        kind: `${kind}.imported`,
        severity: 'info',
        message: `${kind === 'vm' ? 'VM' : 'template'} ${name} was imported from ${exportDomain.name}`,
        object: { kind, id, name },
        details: {
          operation_id: ctx.op.id,
          storage_domain_id: target.id,
          format: input.source.format,
          ...(input.warnings ? { warnings: input.warnings } : {}),
        },
      });
    });
    return { [`${kind}_id`]: id, disk_ids: diskIds, ...(input.warnings ? { warnings: input.warnings } : {}) };
  } catch (err) {
    // No half VM, no orphan volumes: the copies and the rows go again.
    const host = await hostForDomains(deps.db, deps.hub, [target]).catch(() => undefined);
    if (host) {
      for (const d of input.disks) {
        await deps.hub
          .call(host, 'volume.delete', { domain_id: target.id, disk_id: d.disk_id })
          .catch((e: unknown) =>
            ctx.log.warn({ err: e, disk_id: d.disk_id }, 'could not remove an imported disk'),
          );
      }
    }
    await deps.db
      .transaction()
      .execute((tx) => deleteImported(tx, kind, id, diskIds))
      .catch((e: unknown) => ctx.log.warn({ err: e, id }, 'could not forget a failed import'));
    throw err;
  }
}

/** `vm.export`, `template.export`, `vm.import`, `template.import` (issue 5 item 6). */
export function registerExportOperations(registry: OperationRegistry, deps: Deps): void {
  registry.register('vm.export', {
    resumable: true,
    run: async (ctx) => {
      const id = ctx.op.target?.id as string;
      const vm = await findVm(deps.db, id);
      if (!vm) throw new NotFound('vm_not_found', `VM ${id} does not exist`, { details: { id } });
      const disks = (await listVmDisks(deps.db, [id])).get(id) ?? [];
      try {
        return await exportTo(
          deps,
          ctx,
          {
            kind: 'vm',
            id,
            name: vm.name,
            disks: disks.map((d) => sourceDisk(d.id, d)),
            ovf: (forOva) => vmOvf(vm, disks, forOva),
          },
          ctx.op.input as ExportOpInput,
        );
      } finally {
        for (const d of disks)
          await updateDisk(deps.db, d.id, undefined, { state: 'ok' }).catch(() => undefined);
      }
    },
  });

  registry.register('template.export', {
    resumable: true,
    run: async (ctx) => {
      const id = ctx.op.target?.id as string;
      const t = await findTemplate(deps.db, id);
      if (!t) throw new NotFound('template_not_found', `template ${id} does not exist`, { details: { id } });
      const disks = await templateDisks(deps.db, id);
      return exportTo(
        deps,
        ctx,
        {
          kind: 'template',
          id,
          name: t.name,
          disks: disks.map((d) => sourceDisk(d.disk_id, d)),
          ovf: (forOva) => templateOvf(t, disks, forOva),
        },
        ctx.op.input as ExportOpInput,
      );
    },
  });

  for (const kind of ['vm', 'template'] as const) {
    registry.register(`${kind}.import`, {
      resumable: true,
      run: (ctx) => importFrom(deps, ctx, kind, ctx.op.target?.id as string, ctx.op.input as ImportOpInput),
    });
  }
}
