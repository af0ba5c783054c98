import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { activeVolume, findDisk, setVolumeOnStorage, updateDisk } from '../db/repositories/disks';
import {
  deleteTemplateWithDisks,
  findTemplate,
  templateDisks,
  updateTemplate,
} from '../db/repositories/templates';
import type { Db } from '../db/schema';
import { NotFound } from '../errors';
import type { OperationRegistry } from '../operations';
import type { AuditRecorder } from '../services/ports';
import type { CloneDiskInput } from '../services/template-clones';
import { refuseIfThinClones } from '../services/templates';
import { isDiskEncrypted } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';
import { copyKeys, ensureDiskKey, sourceKeysOf } from '../secrets/volume-keys';
import { COPY_TIMEOUT_MS, createVolumeOn, domainOrThrow, hostForDomains } from './disk-storage';

interface Deps {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  log: Logger;
  /** Wraps the keys of template disks and clones made from encrypted disks. */
  masterKey?: MasterKey;
}

/**
 * A template disk or clone made from an encrypted source gets its own new key (stored before its
 * volume is written; a resumed run keeps it). Without a master key it cannot be: refused.
 */
async function keyLikeSource(deps: Deps, sourceDiskId: string, diskId: string): Promise<string | undefined> {
  const source = await sourceKeysOf(deps.db, deps.masterKey, sourceDiskId);
  if (!source && !(await isDiskEncrypted(deps.db, sourceDiskId))) return undefined;
  if (!deps.masterKey) throw new Error(`disk ${sourceDiskId} is encrypted but this engine has no master key`);
  return ensureDiskKey(deps.db, deps.masterKey, diskId);
}

/** What sealing reset on one template disk (the operation result and audit list these). */
interface SealedDisk {
  disk_id: string;
  changed: string[];
}

/**
 * Seals a freshly copied template disk on its host (`volume.seal`, ADR 030): the guest's
 * machine-id and hostname are reset inside an appliance VM. A blank source (never written) is
 * not sealed: it has no file system.
 */
async function sealTemplateDisk(
  deps: Deps,
  host: string,
  domainId: string,
  diskId: string,
  volume: { id: string; format: string },
  key: string | undefined,
): Promise<SealedDisk> {
  const result = await deps.hub.call(
    host,
    'volume.seal',
    {
      domain_id: domainId,
      disk_id: diskId,
      volume_id: volume.id,
      format: volume.format as 'qcow2' | 'raw',
      ...(key ? { encryption: { secret: key } } : {}),
    },
    { timeoutMs: SEAL_TIMEOUT_MS },
  );
  return { disk_id: diskId, changed: [...result.changed] };
}

/** The agent kills the appliance after 180 s; the call waits a little longer for that answer. */
const SEAL_TIMEOUT_MS = 240_000;

function targetTemplate(target: { kind: string; id: string } | null): string {
  if (target?.kind !== 'template') throw new Error('a template.* operation without a template target');
  return target.id;
}

/**
 * `template.create` and `template.delete`. Both are idempotent: a rerun after an engine restart
 * deletes a half-copied template disk directory and copies again; a delete forgets what is gone.
 */
export function registerTemplateOperations(registry: OperationRegistry, deps: Deps): void {
  registry.register('template.create', {
    resumable: true,
    run: async (ctx) => {
      const id = targetTemplate(ctx.op.target);
      const input = ctx.op.input as {
        disks?: { source_disk_id: string; disk_id: string }[];
        seal?: boolean;
      } | null;
      const pairs = input?.disks ?? [];
      const sealed: SealedDisk[] = [];
      const template = await findTemplate(deps.db, id);
      if (!template)
        throw new NotFound('template_not_found', `template ${id} does not exist`, { details: { id } });
      if (template.state === 'ok') return { template_id: id };
      try {
        for (const [i, pair] of pairs.entries()) {
          ctx.signal.throwIfAborted();
          const source = await findDisk(deps.db, pair.source_disk_id);
          const target = await findDisk(deps.db, pair.disk_id);
          const from = source && (await activeVolume(deps.db, source.id));
          const to = target && (await activeVolume(deps.db, target.id));
          if (!source || !target || !from || !to)
            throw new Error('a template disk pair lost its disk or volume');
          const domain = await domainOrThrow(deps.db, target.storage_domain_id);
          const host = await hostForDomains(deps.db, deps.hub, [domain]);
          await ctx.progress(0.05 + (0.9 * i) / pairs.length, `copying disk ${source.name}`);
          if (to.on_storage) continue;
          // Encrypted source: the template disk is encrypted too, under a key of its own.
          const key = await keyLikeSource(deps, source.id, target.id);
          if (from.on_storage) {
            // Leftovers of an interrupted attempt.
            await deps.hub.call(host, 'volume.delete', { domain_id: domain.id, disk_id: target.id });
            // volume.copy writes the whole chain into one volume: the base has no backing file.
            await deps.hub.call(
              host,
              'volume.copy',
              {
                job_id: randomUUID(),
                from: {
                  domain_id: source.storage_domain_id,
                  disk_id: source.id,
                  volume_id: from.id,
                  format: from.format,
                },
                to: { domain_id: domain.id, disk_id: target.id, volume_id: to.id, format: to.format },
                ...(await copyKeys(deps.db, deps.masterKey, source.id, target.id)),
              },
              { timeoutMs: COPY_TIMEOUT_MS },
            );
            // Sealed before the volume counts as on storage: a rerun copies (and seals) again.
            if (input?.seal) {
              await ctx.progress(0.05 + (0.9 * (i + 0.5)) / pairs.length, `sealing disk ${source.name}`);
              sealed.push(await sealTemplateDisk(deps, host, domain.id, target.id, to, key));
            }
          } else {
            // Never written: a blank volume is an exact copy.
            await createVolumeOn(deps.hub, host, domain.id, target, to, key);
          }
          await setVolumeOnStorage(deps.db, to.id);
        }
        await deps.db.transaction().execute(async (tx) => {
          for (const pair of pairs) {
            await updateDisk(tx, pair.disk_id, undefined, { state: 'ok' });
            await updateDisk(tx, pair.source_disk_id, undefined, { state: 'ok' });
          }
          await updateTemplate(tx, id, { state: 'ok' });
          await deps.audit.record(tx, {
            kind: 'template.ready',
            severity: 'info',
            message: `template ${template.name} is ready`,
            object: { kind: 'template', id, name: template.name },
            details: { operation_id: ctx.op.id, ...(input?.seal ? { sealed } : {}) },
          });
        });
        return {
          template_id: id,
          disk_ids: pairs.map((p) => p.disk_id),
          ...(input?.seal ? { sealed } : {}),
        };
      } catch (err) {
        await deps.db
          .transaction()
          .execute(async (tx) => {
            for (const pair of pairs) await updateDisk(tx, pair.source_disk_id, undefined, { state: 'ok' });
            await updateTemplate(tx, id, { state: 'illegal' });
          })
          .catch((e) => deps.log.warn({ err: e, template_id: id }, 'could not mark the template illegal'));
        throw err;
      }
    },
  });

  registry.register('template.delete', {
    resumable: true,
    run: async (ctx) => {
      const id = targetTemplate(ctx.op.target);
      const template = await findTemplate(deps.db, id);
      if (!template) return { deleted: true };
      try {
        // A clone may have been created between the request and now.
        await refuseIfThinClones(deps.db, template);
        for (const d of await templateDisks(deps.db, id)) {
          const domain = await domainOrThrow(deps.db, d.storage_domain_id);
          const host = await hostForDomains(deps.db, deps.hub, [domain]);
          await deps.hub.call(host, 'volume.delete', { domain_id: domain.id, disk_id: d.disk_id });
        }
      } catch (err) {
        await updateTemplate(deps.db, id, { state: 'ok' }).catch(() => undefined);
        throw err;
      }
      await deps.db.transaction().execute(async (tx) => {
        await deleteTemplateWithDisks(tx, id);
        await deps.audit.record(tx, {
          kind: 'template.deleted',
          severity: 'info',
          message: `template ${template.name} was deleted`,
          object: { kind: 'template', id, name: template.name },
          details: { operation_id: ctx.op.id },
        });
      });
      return { deleted: true };
    },
  });

  registry.register('vm.clone', {
    resumable: true,
    run: async (ctx) => {
      const target = ctx.op.target;
      if (target?.kind !== 'vm') throw new Error('a vm.clone operation without a VM target');
      const input = ctx.op.input as { clone?: 'thin' | 'full'; disks?: CloneDiskInput[] } | null;
      const mode = input?.clone ?? 'thin';
      const disks = input?.disks ?? [];
      try {
        for (const [i, d] of disks.entries()) {
          ctx.signal.throwIfAborted();
          const disk = await findDisk(deps.db, d.disk_id);
          const volume = disk && (await activeVolume(deps.db, disk.id));
          const base = await findDisk(deps.db, d.template_disk_id);
          const baseVolume = base && (await activeVolume(deps.db, base.id));
          if (!disk || !volume || !base || !baseVolume)
            throw new Error('a clone disk lost its disk or template volume');
          await ctx.progress(
            0.05 + (0.9 * i) / disks.length,
            `${mode === 'thin' ? 'creating' : 'copying'} disk ${disk.name}`,
          );
          if (volume.on_storage) continue;
          const domain = await domainOrThrow(deps.db, disk.storage_domain_id);
          const host = await hostForDomains(deps.db, deps.hub, [domain]);
          // Leftovers of an interrupted attempt.
          await deps.hub.call(host, 'volume.delete', { domain_id: domain.id, disk_id: disk.id });
          // A clone of an encrypted template is encrypted under its own key; a thin clone's
          // base layers keep the template disk's key (the VM start hands over both).
          const key = await keyLikeSource(deps, base.id, disk.id);
          if (mode === 'thin') {
            await deps.hub.call(host, 'volume.create', {
              domain_id: domain.id,
              disk_id: disk.id,
              volume_id: volume.id,
              format: 'qcow2',
              backing: { disk_id: base.id, volume_id: baseVolume.id, format: baseVolume.format },
              ...(key ? { encryption: { secret: key } } : {}),
            });
          } else {
            await deps.hub.call(
              host,
              'volume.copy',
              {
                job_id: randomUUID(),
                from: {
                  domain_id: base.storage_domain_id,
                  disk_id: base.id,
                  volume_id: baseVolume.id,
                  format: baseVolume.format,
                },
                to: { domain_id: domain.id, disk_id: disk.id, volume_id: volume.id, format: volume.format },
                ...(await copyKeys(deps.db, deps.masterKey, base.id, disk.id)),
              },
              { timeoutMs: COPY_TIMEOUT_MS },
            );
          }
          await deps.db.transaction().execute(async (tx) => {
            await setVolumeOnStorage(tx, volume.id);
            await updateDisk(tx, disk.id, undefined, { state: 'ok' });
          });
        }
      } catch (err) {
        for (const d of disks) {
          const disk = await findDisk(deps.db, d.disk_id).catch(() => undefined);
          if (disk?.state === 'locked')
            await updateDisk(deps.db, d.disk_id, undefined, { state: 'illegal' }).catch(() => undefined);
        }
        throw err;
      }
      return { vm_id: target.id, clone: mode, disk_ids: disks.map((d) => d.disk_id) };
    },
  });
}
