import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import {
  activeVolume,
  attachmentsOfDisk,
  deleteAttachment,
  deleteDisk,
  findAttachment,
  findDisk,
  listVmDisks,
  listVolumes,
  replaceVolume,
  setDiskSize,
  setVolumeOnStorage,
  updateDisk,
} from '../db/repositories/disks';
import { findVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import type { DiskRow } from '../db/tables/disks';
import { Conflict, NotFound } from '../errors';
import type { OperationContext, OperationRegistry } from '../operations';
import { vmIsDown } from '../services/disks';
import type { AuditRecorder } from '../services/ports';
import { diskKeyOf } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';
import { baseDiskOf, copyKeys, targetKeyOf } from '../secrets/volume-keys';
import {
  COPY_TIMEOUT_MS,
  createVolumeOn,
  diskSecretId,
  domainOrThrow,
  followAgentJob,
  hostForDomains,
  vmDiskSpec,
} from './disk-storage';
import { agentCodeOf } from './vm-controller';

interface Deps {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  log: Logger;
  /** Unwraps encrypted disks' keys when their volume is created. */
  masterKey?: MasterKey;
}

function targetDisk(target: { kind: string; id: string } | null): string {
  if (target?.kind !== 'disk') throw new Error('a disk.* operation without a disk target');
  return target.id;
}

/**
 * Runs a `volume.copy` on `hostId`, turning its `job.progress` events into operation progress and
 * the operation's cancellation into `volume.cancel`.
 */
async function copyWithProgress(
  deps: Deps,
  ctx: OperationContext,
  hostId: string,
  params: {
    from: { domain_id: string; disk_id: string; volume_id: string; format: 'qcow2' | 'raw' };
    to: { domain_id: string; disk_id: string; volume_id: string; format: 'qcow2' | 'raw' };
  },
): Promise<void> {
  // An encrypted source is opened with its keys; the target is written under the target disk's
  // key (a move: the same disk, the same key; a copy: the new disk's own key).
  const keys = await copyKeys(deps.db, deps.masterKey, params.from.disk_id, params.to.disk_id);
  await followAgentJob(deps.hub, ctx, hostId, { range: [0.05, 0.95], label: 'copying' }, (jobId) =>
    deps.hub.call(
      hostId,
      'volume.copy',
      { job_id: jobId, ...params, ...keys },
      { timeoutMs: COPY_TIMEOUT_MS },
    ),
  );
}

/** On failure the disk must not stay `locked` forever: `state` tells the user what happened. */
async function settle<T>(
  db: Db,
  diskId: string,
  onFailure: DiskRow['state'],
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await updateDisk(db, diskId, undefined, { state: onFailure }).catch(() => undefined);
    throw err;
  }
}

/**
 * Handlers of the `disk.*` operation types. Each is idempotent (a resumed run after an engine
 * restart converges on the same result) and leaves the disk `ok` on success; a failure leaves it
 * `ok` when nothing changed on storage, `illegal` when its volumes can no longer be trusted.
 */
export function registerDiskOperations(registry: OperationRegistry, deps: Deps): void {
  // deps.db is read at run time: composition roots (and tests) may fill it in after registering.

  registry.register('disk.create', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const disk = await findDisk(deps.db, id);
      if (!disk) throw new NotFound('disk_not_found', `disk ${id} does not exist`, { details: { id } });
      return settle(deps.db, id, 'illegal', async () => {
        const volume = await activeVolume(deps.db, id);
        if (!volume) throw new Error(`disk ${id} has no active volume`);
        const domain = await domainOrThrow(deps.db, disk.storage_domain_id);
        const host = volume.on_storage ? null : await hostForDomains(deps.db, deps.hub, [domain]);
        await ctx.progress(0.2, 'creating the volume');
        const key = deps.masterKey ? await diskKeyOf(deps.db, deps.masterKey, id) : undefined;
        if (host) await createVolumeOn(deps.hub, host, domain.id, disk, volume, key);
        await deps.db.transaction().execute(async (tx) => {
          await setVolumeOnStorage(tx, volume.id);
          await updateDisk(tx, id, undefined, { state: 'ok' });
          await deps.audit.record(tx, {
            kind: 'disk.ready',
            severity: 'info',
            message: `disk ${disk.name} is ready in storage domain ${domain.name}`,
            object: { kind: 'disk', id, name: disk.name },
            details: { operation_id: ctx.op.id, host_id: host },
          });
        });
        return { disk_id: id, volume_id: volume.id, host_id: host };
      });
    },
  });

  registry.register('disk.extend', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const size = Number((ctx.op.input as { size_bytes?: number } | null)?.size_bytes);
      const disk = await findDisk(deps.db, id);
      if (!disk) throw new NotFound('disk_not_found', `disk ${id} does not exist`, { details: { id } });
      return settle(deps.db, id, 'ok', async () => {
        const volume = await activeVolume(deps.db, id);
        if (!volume) throw new Error(`disk ${id} has no active volume`);
        let online: string | null = null;
        if (volume.on_storage) {
          const running = (await attachmentsOfDisk(deps.db, id)).find((a) => !vmIsDown(a) && a.host_id);
          if (running?.host_id) {
            try {
              await deps.hub.call(running.host_id, 'vm.resize_disk', {
                vm_id: running.vm_id,
                disk_id: id,
                size_bytes: size,
              });
              online = running.vm_id;
            } catch (err) {
              // The VM went down (or never had the disk plugged): grow the file instead.
              const code = agentCodeOf(err);
              if (code !== 'invalid_vm_state' && code !== 'vm_not_found' && code !== 'device_not_found')
                throw err;
            }
          }
          if (!online) {
            const domain = await domainOrThrow(deps.db, disk.storage_domain_id);
            const host = await hostForDomains(deps.db, deps.hub, [domain]);
            const key = await targetKeyOf(deps.db, deps.masterKey, id);
            await deps.hub.call(host, 'volume.resize', {
              domain_id: domain.id,
              disk_id: id,
              volume_id: volume.id,
              format: volume.format,
              size_bytes: size,
              // An encrypted disk's LUKS header has to be opened to grow it.
              ...(key ? { encryption: key } : {}),
            });
          }
        }
        await deps.db.transaction().execute(async (tx) => {
          await setDiskSize(tx, id, size);
          await updateDisk(tx, id, undefined, { state: 'ok' });
          await deps.audit.record(tx, {
            kind: 'disk.extended',
            severity: 'info',
            message: `disk ${disk.name} was extended to ${size} bytes${online ? ' while its VM runs' : ''}`,
            object: { kind: 'disk', id, name: disk.name },
            details: { operation_id: ctx.op.id, size_bytes: size, online_vm_id: online },
          });
        });
        return { disk_id: id, size_bytes: size, online: online !== null };
      });
    },
  });

  registry.register('disk.move', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const targetId = String((ctx.op.input as { storage_domain_id?: string } | null)?.storage_domain_id);
      const disk = await findDisk(deps.db, id);
      if (!disk) throw new NotFound('disk_not_found', `disk ${id} does not exist`, { details: { id } });
      if (disk.storage_domain_id === targetId && disk.state === 'ok') return { disk_id: id, moved: true };
      return settle(deps.db, id, 'ok', async () => {
        const volume = await activeVolume(deps.db, id);
        if (!volume) throw new Error(`disk ${id} has no active volume`);
        const from = await domainOrThrow(deps.db, disk.storage_domain_id);
        const to = await domainOrThrow(deps.db, targetId);
        const newVolumeId = randomUUID();
        let host: string | null = null;
        if (volume.on_storage) {
          host = await hostForDomains(deps.db, deps.hub, [from, to]);
          // Leftovers of an interrupted earlier attempt: the disk is not in the target domain yet.
          await deps.hub.call(host, 'volume.delete', { domain_id: to.id, disk_id: id });
          await ctx.progress(0.05, `copying to ${to.name}`);
          await copyWithProgress(deps, ctx, host, {
            from: { domain_id: from.id, disk_id: id, volume_id: volume.id, format: volume.format },
            to: { domain_id: to.id, disk_id: id, volume_id: newVolumeId, format: volume.format },
          });
        }
        await deps.db.transaction().execute(async (tx) => {
          if (volume.on_storage) await replaceVolume(tx, id, volume.id, newVolumeId, to.id);
          else await updateDisk(tx, id, undefined, { storage_domain_id: to.id, state: 'ok' });
          await deps.audit.record(tx, {
            kind: 'disk.moved',
            severity: 'info',
            message: `disk ${disk.name} was moved from storage domain ${from.name} to ${to.name}`,
            object: { kind: 'disk', id, name: disk.name },
            details: { operation_id: ctx.op.id, from: from.id, to: to.id },
          });
        });
        // The copy is the disk now; the original goes. A failure here only leaves a stray directory.
        let leftBehind = false;
        if (host) {
          await deps.hub.call(host, 'volume.delete', { domain_id: from.id, disk_id: id }).catch((err) => {
            leftBehind = true;
            deps.log.warn(
              { err, disk_id: id, domain_id: from.id },
              'the moved disk\u2019s old volume was not removed',
            );
          });
        }
        return {
          disk_id: id,
          storage_domain_id: to.id,
          volume_id: volume.on_storage ? newVolumeId : volume.id,
          left_behind: leftBehind,
        };
      });
    },
  });

  registry.register('disk.copy', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const sourceId = String((ctx.op.input as { source_disk_id?: string } | null)?.source_disk_id);
      const disk = await findDisk(deps.db, id);
      if (!disk) throw new NotFound('disk_not_found', `disk ${id} does not exist`, { details: { id } });
      if (disk.state === 'ok') return { disk_id: id, source_disk_id: sourceId };
      try {
        return await settle(deps.db, id, 'illegal', async () => {
          const source = await findDisk(deps.db, sourceId);
          if (!source)
            throw new NotFound('disk_not_found', `disk ${sourceId} does not exist`, {
              details: { id: sourceId },
            });
          const srcVol = await activeVolume(deps.db, sourceId);
          const dstVol = await activeVolume(deps.db, id);
          if (!srcVol || !dstVol) throw new Error('a disk without an active volume');
          const from = await domainOrThrow(deps.db, source.storage_domain_id);
          const to = await domainOrThrow(deps.db, disk.storage_domain_id);
          if (srcVol.on_storage) {
            const host = await hostForDomains(deps.db, deps.hub, [from, to]);
            await deps.hub.call(host, 'volume.delete', { domain_id: to.id, disk_id: id });
            await ctx.progress(0.05, `copying to ${to.name}`);
            await copyWithProgress(deps, ctx, host, {
              from: { domain_id: from.id, disk_id: sourceId, volume_id: srcVol.id, format: srcVol.format },
              to: { domain_id: to.id, disk_id: id, volume_id: dstVol.id, format: dstVol.format },
            });
          } else {
            // Never written: a blank volume is an exact copy.
            await createVolumeOn(
              deps.hub,
              await hostForDomains(deps.db, deps.hub, [to]),
              to.id,
              disk,
              dstVol,
              (await targetKeyOf(deps.db, deps.masterKey, id))?.secret,
            );
          }
          await deps.db.transaction().execute(async (tx) => {
            await setVolumeOnStorage(tx, dstVol.id);
            await updateDisk(tx, id, undefined, { state: 'ok' });
            await deps.audit.record(tx, {
              kind: 'disk.copied',
              severity: 'info',
              message: `disk ${source.name} was copied to ${disk.name} in storage domain ${to.name}`,
              object: { kind: 'disk', id, name: disk.name },
              details: { operation_id: ctx.op.id, source_disk_id: sourceId },
            });
          });
          return { disk_id: id, source_disk_id: sourceId };
        });
      } finally {
        const source = await findDisk(deps.db, sourceId);
        if (source?.state === 'locked') await updateDisk(deps.db, sourceId, undefined, { state: 'ok' });
      }
    },
  });

  registry.register('disk.delete', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const disk = await findDisk(deps.db, id);
      if (!disk) return { deleted: true };
      return settle(deps.db, id, 'illegal', async () => {
        const running = (await attachmentsOfDisk(deps.db, id)).filter((a) => !vmIsDown(a));
        if (running.length > 0) {
          throw new Conflict('disk_in_use', `disk ${disk.name} is used by a running VM`, {
            details: { disk_id: id, vm_ids: running.map((r) => r.vm_id) },
          });
        }
        await removeDiskFromStorage(deps, disk);
        await deps.db.transaction().execute(async (tx) => {
          await deleteDisk(tx, id);
          await deps.audit.record(tx, {
            kind: 'disk.deleted',
            severity: 'info',
            message: `disk ${disk.name} was deleted`,
            object: { kind: 'disk', id, name: disk.name },
            details: { operation_id: ctx.op.id },
          });
        });
        return { deleted: true };
      });
    },
  });

  registry.register('disk.attach', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const vmId = String((ctx.op.input as { vm_id?: string } | null)?.vm_id);
      const vm = await findVm(deps.db, vmId);
      const att = vm ? await findAttachment(deps.db, vmId, id) : undefined;
      if (!vm || !att)
        throw new NotFound('disk_not_attached', `disk ${id} is no longer attached to VM ${vmId}`);
      // Down by now: the next start gives it the disk.
      if (vmIsDown(vm) || !vm.host_id) return { vm_id: vmId, disk_id: id, hotplugged: false };
      const hostId = vm.host_id;
      try {
        const view = ((await listVmDisks(deps.db, [vmId])).get(vmId) ?? []).find((d) => d.id === id);
        const disk = await findDisk(deps.db, id);
        if (!view || !disk) throw new NotFound('disk_not_found', `disk ${id} does not exist`);
        const domain = await domainOrThrow(deps.db, disk.storage_domain_id);
        // An encrypted disk's keys (its own, and a thin clone's template key) reach QEMU over QMP.
        const keys = await hotplugKeys(deps, id);
        if (!view.on_storage) {
          await createVolumeOn(
            deps.hub,
            hostId,
            domain.id,
            disk,
            { id: view.volume_id, format: view.volume_format },
            keys.own,
          );
          await setVolumeOnStorage(deps.db, view.volume_id);
        }
        const spec = { ...vmDiskSpec(view, domain, keys.own !== undefined), ...keys.spec };
        await deps.hub
          .call(hostId, 'vm.attach_disk', {
            vm_id: vmId,
            disk: spec,
            ...(Object.keys(keys.secrets).length ? { secrets: keys.secrets } : {}),
          })
          .catch((err) => {
            if (agentCodeOf(err) !== 'device_exists') throw err;
          });
      } catch (err) {
        // Not plugged: the attachment must not claim otherwise.
        await deleteAttachment(deps.db, vmId, id);
        throw err;
      }
      return { vm_id: vmId, disk_id: id, hotplugged: true };
    },
  });

  registry.register('disk.detach', {
    resumable: true,
    run: async (ctx) => {
      const id = targetDisk(ctx.op.target);
      const vmId = String((ctx.op.input as { vm_id?: string } | null)?.vm_id);
      const vm = await findVm(deps.db, vmId);
      if (vm && !vmIsDown(vm) && vm.host_id) {
        await deps.hub
          .call(vm.host_id, 'vm.detach_disk', { vm_id: vmId, disk_id: id }, { timeoutMs: 60_000 })
          .catch((err) => {
            const code = agentCodeOf(err);
            if (code !== 'device_not_found' && code !== 'vm_not_found') throw err;
          });
      }
      await deleteAttachment(deps.db, vmId, id);
      return { vm_id: vmId, disk_id: id };
    },
  });
}

/**
 * What `vm.attach_disk` needs for an encrypted disk: the secret values by id, and the spec's
 * `base_encryption_secret_id` when the chain ends in an encrypted template's base.
 */
async function hotplugKeys(
  deps: Deps,
  diskId: string,
): Promise<{
  own?: string;
  secrets: Record<string, string>;
  spec: { base_encryption_secret_id?: string };
}> {
  if (!deps.masterKey) return { secrets: {}, spec: {} };
  const own = await diskKeyOf(deps.db, deps.masterKey, diskId);
  const baseDisk = await baseDiskOf(deps.db, diskId);
  const base = baseDisk ? await diskKeyOf(deps.db, deps.masterKey, baseDisk) : undefined;
  const secrets: Record<string, string> = {};
  if (own) secrets[diskSecretId(diskId)] = own;
  if (baseDisk && base) secrets[diskSecretId(baseDisk)] = base;
  return {
    ...(own ? { own } : {}),
    secrets,
    spec: baseDisk && base ? { base_encryption_secret_id: diskSecretId(baseDisk) } : {},
  };
}

/** Deletes a disk's directory (every volume) from its domain, when anything was ever written. */
export async function removeDiskFromStorage(deps: Pick<Deps, 'db' | 'hub'>, disk: DiskRow): Promise<void> {
  const volumes = await listVolumes(deps.db, disk.id);
  if (!volumes.some((v) => v.on_storage)) return;
  const domain = await domainOrThrow(deps.db, disk.storage_domain_id);
  const host = await hostForDomains(deps.db, deps.hub, [domain]);
  await deps.hub.call(host, 'volume.delete', { domain_id: domain.id, disk_id: disk.id });
}
