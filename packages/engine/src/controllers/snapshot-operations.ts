import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { hostsSeeingDomain, updateDisk } from '../db/repositories/disks';
import {
  activateVolume,
  activeVolumeOf as activeVolume,
  findDiskRow as findDisk,
  deleteSnapshotRow,
  deleteVolumeRow,
  findSnapshot,
  findVolume,
  insertVolume,
  listSnapshots,
  replaceMergedVolume,
  type SnapshotView,
  setSnapshotPreview,
  setSnapshotState,
  setVolumeState,
} from '../db/repositories/snapshots';
import { findStorageDomain } from '../db/repositories/storage-domains';
import { findVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import type { VolumeRow } from '../db/tables/disks';
import type { StorageDomainRow } from '../db/tables/storage';
import type { VmRow } from '../db/tables/vms';
import { diskDir, volumePath } from '../domain/storage/paths';
import { Conflict, NotFound, Unavailable } from '../errors';
import type { OperationContext, OperationRegistry } from '../operations';
import type { MasterKey } from '../secrets/master-key';
import type { AuditRecorder } from '../services/ports';
import { snapshotKeys } from './snapshot-keys';
import { clearMemoryRestore, requestMemoryRestore } from './snapshot-memory';
import { agentCodeOf } from './vm-controller';

interface Deps {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  log: Logger;
  /** Unwraps encrypted disks' keys: new overlays are encrypted with them, cold merges open with them. */
  masterKey?: MasterKey;
}

/**
 * Test-only knob (`VIREO_TEST_SNAPSHOT_RECORD_DELAY_MS`): wait this long between the agent's answer
 * to a live `vm.snapshot` and recording it, so a crash test can kill the engine in that window.
 */
function testRecordDelay(): Promise<void> {
  const ms = Number(process.env.VIREO_TEST_SNAPSHOT_RECORD_DELAY_MS);
  return Number.isInteger(ms) && ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Merges copy whole volumes: the agent replies when the job is done. */
const MERGE_TIMEOUT_MS = 24 * 3600_000;
/** A memory snapshot streams the guest's RAM. */
const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;

interface DiskPart {
  diskId: string;
  diskName: string;
  domain: StorageDomainRow;
  /** The volume the snapshot froze. */
  volume: VolumeRow;
}

async function loadSnapshot(
  db: Db,
  ctx: OperationContext,
): Promise<{ vm: VmRow; snapshot: SnapshotView | undefined }> {
  const vmId = ctx.op.target?.id;
  const sid = String((ctx.op.input as { snapshot_id?: string } | null)?.snapshot_id ?? '');
  if (!vmId) throw new Error('a snapshot operation without a VM target');
  const vm = await findVm(db, vmId);
  if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
  return { vm, snapshot: await findSnapshot(db, sid) };
}

async function partsOf(db: Db, snapshot: SnapshotView): Promise<DiskPart[]> {
  const parts: DiskPart[] = [];
  for (const sv of snapshot.volumes) {
    const disk = await findDisk(db, sv.disk_id);
    const volume = await findVolume(db, sv.volume_id);
    const domain = disk ? await findStorageDomain(db, disk.storage_domain_id) : undefined;
    if (!disk || !volume || !domain)
      throw new Error(`snapshot ${snapshot.id}: disk ${sv.disk_id} is incomplete`);
    parts.push({ diskId: disk.id, diskName: disk.name, domain, volume });
  }
  return parts;
}

/** A VM is down for storage purposes only when it is down and meant to stay down. */
function vmIsDown(vm: { state: string; desired_state: string }): boolean {
  return vm.state === 'down' && vm.desired_state === 'down';
}

/** A connected host that sees every one of `domains`. */
async function hostForDomains(db: Db, hub: AgentHub, domains: StorageDomainRow[]): Promise<string> {
  let candidates: string[] | undefined;
  for (const d of domains) {
    const seeing = await hostsSeeingDomain(db, d);
    candidates = candidates ? candidates.filter((h) => seeing.includes(h)) : seeing;
  }
  const host = (candidates ?? []).find((h) => hub.isConnected(h));
  if (!host) {
    throw new Unavailable(
      'unavailable',
      `no connected host sees storage domain(s) ${domains.map((d) => d.name).join(', ')}`,
      {
        details: { storage_domain_ids: domains.map((d) => d.id) },
      },
    );
  }
  return host;
}

/** The host where the VM runs, or null when it is down. */
function runningOn(vm: VmRow): string | null {
  return !vmIsDown(vm) && vm.host_id ? vm.host_id : null;
}

function path(domain: StorageDomainRow, diskId: string, volumeId: string): string {
  return volumePath(domain, diskId, volumeId);
}

/**
 * Handlers of the snapshot operation types. Each works disk by disk and records every finished
 * step in the database, so a retry (or a resumed run) does only what is left; the agent's merges
 * are idempotent and crash-safe on their own (merge marker, see the agent's vm/snapshots).
 */
export function registerSnapshotOperations(registry: OperationRegistry, deps: Deps): void {
  // The database is read when a handler runs: tests hand it over after registering.
  const { hub, audit } = deps;
  const keys = snapshotKeys(deps);

  async function createOverlay(
    host: string,
    part: DiskPart,
    newId: string,
    backing: VolumeRow,
  ): Promise<void> {
    const encryption = await keys.overlay(part.diskId);
    try {
      await hub.call(host, 'volume.create', {
        domain_id: part.domain.id,
        disk_id: part.diskId,
        volume_id: newId,
        format: 'qcow2',
        backing: { disk_id: part.diskId, volume_id: backing.id, format: backing.format },
        ...encryption,
      });
    } catch (err) {
      // A retry after a lost reply: the overlay is already there.
      if (agentCodeOf(err) !== 'image_exists') throw err;
    }
  }

  async function deleteVolumeFile(
    host: string,
    part: { domain: StorageDomainRow; diskId: string },
    volumeId: string,
  ): Promise<void> {
    await hub.call(host, 'volume.delete', {
      domain_id: part.domain.id,
      disk_id: part.diskId,
      volume_id: volumeId,
    });
  }

  registry.register('vm.snapshot', {
    resumable: false,
    run: async (ctx) => {
      const { vm, snapshot } = await loadSnapshot(deps.db, ctx);
      if (!snapshot) throw new NotFound('snapshot_not_found', 'the snapshot is gone', { details: {} });
      if (snapshot.state !== 'creating') return { snapshot_id: snapshot.id, state: snapshot.state };
      // A snapshot that cannot even start must not stay `creating` (it would block the VM's others).
      const dropSnapshot = () =>
        deleteSnapshotRow(deps.db, snapshot.id).catch((e) =>
          ctx.log.error({ err: e }, 'dropping the snapshot failed'),
        );
      const parts = await partsOf(deps.db, snapshot).catch(async (err) => {
        await dropSnapshot();
        throw err;
      });
      const created = parts.map((p) => ({ part: p, id: randomUUID() }));
      await deps.db
        .transaction()
        .execute(async (tx) => {
          for (const c of created) {
            if (!c.part.volume.active) {
              throw new Conflict(
                'snapshot_busy',
                `disk ${c.part.diskName} changed since the snapshot was asked for`,
                {
                  details: { disk_id: c.part.diskId },
                },
              );
            }
            await insertVolume(tx, {
              id: c.id,
              disk_id: c.part.diskId,
              parent_id: c.part.volume.id,
              format: 'qcow2',
              size_bytes: c.part.volume.size_bytes,
            });
            await updateDisk(tx, c.part.diskId, undefined, { state: 'locked' });
          }
        })
        .catch(async (err) => {
          await dropSnapshot();
          throw err;
        });
      // Whether the VM may have switched to the overlays without the database knowing: then only
      // the snapshot reconciler, which asks the agent what the VM runs on, may decide.
      let unsure = false;
      const madeCold: { part: DiskPart; id: string; host: string }[] = [];
      try {
        const host = runningOn(vm);
        let pausedMs: number | null = null;
        if (host) {
          unsure = true;
          await ctx.progress(0.3, 'switching the running VM to new overlays');
          const first = parts[0] as DiskPart;
          const disks = await keys.liveOverlays(
            created.map((c) => ({ diskId: c.part.diskId, path: path(c.part.domain, c.part.diskId, c.id) })),
          );
          const result = await hub.call(
            host,
            'vm.snapshot',
            {
              vm_id: vm.id,
              disks,
              ...(snapshot.memory
                ? { memory: { path: join(diskDir(first.domain, first.diskId), `${snapshot.id}.memory`) } }
                : {}),
            },
            { timeoutMs: SNAPSHOT_TIMEOUT_MS },
          );
          pausedMs = result.paused_ms;
          await ctx.progress(0.9, 'recording the new active volumes');
          await testRecordDelay();
        } else {
          if (snapshot.memory) {
            throw new Conflict('vm_invalid_state', `VM ${vm.name} is down: no memory to save`, {
              details: { vm_id: vm.id },
            });
          }
          const host2 = await hostForDomains(
            deps.db,
            hub,
            parts.map((p) => p.domain),
          );
          for (const c of created) {
            madeCold.push({ part: c.part, id: c.id, host: host2 });
            await createOverlay(host2, c.part, c.id, c.part.volume);
          }
        }
        await deps.db.transaction().execute(async (tx) => {
          for (const c of created) {
            await activateVolume(tx, c.part.diskId, c.id);
            await updateDisk(tx, c.part.diskId, undefined, { state: 'ok' });
          }
          await setSnapshotState(tx, snapshot.id, 'ok');
          await audit.record(tx, {
            kind: 'vm.snapshot_taken',
            severity: 'info',
            message: `snapshot ${snapshot.id} of VM ${vm.name} was taken${host ? ' live' : ''}`,
            object: { kind: 'vm', id: vm.id, name: vm.name },
            details: {
              snapshot_id: snapshot.id,
              operation_id: ctx.op.id,
              paused_ms: pausedMs,
              disks: created.length,
            },
          });
        });
        return { snapshot_id: snapshot.id, live: host !== null, paused_ms: pausedMs };
      } catch (err) {
        // An agent that answered a disk-only snapshot with an error undid its part (files and QEMU
        // nodes). No answer (engine↔agent link lost, timeout), a memory snapshot (the disks switch
        // before the RAM is saved) or a failure after the answer: the VM may run on the overlays.
        if (unsure && (agentCodeOf(err) === undefined || snapshot.memory)) {
          // The operation's failure wakes the snapshot reconciler.
          ctx.log.warn({ err, snapshot_id: snapshot.id }, 'snapshot left to the reconciler');
          throw err;
        }
        // A cold snapshot: remove the overlays it made (the VM is down, nothing uses them).
        for (const m of madeCold) {
          try {
            await deleteVolumeFile(m.host, m.part, m.id);
          } catch (e) {
            ctx.log.warn({ err: e, snapshot_id: snapshot.id }, 'snapshot left to the reconciler');
            throw err;
          }
        }
        // The rows go too.
        await deps.db
          .transaction()
          .execute(async (tx) => {
            for (const c of created) {
              await deleteVolumeRow(tx, c.id);
              await updateDisk(tx, c.part.diskId, undefined, { state: 'ok' });
            }
            await deleteSnapshotRow(tx, snapshot.id);
          })
          .catch((e) => ctx.log.error({ err: e }, 'cleaning up a failed snapshot failed'));
        throw err;
      }
    },
  });

  registry.register('snapshot.delete', {
    resumable: true,
    run: async (ctx) => {
      const { vm, snapshot } = await loadSnapshot(deps.db, ctx);
      if (!snapshot) return { deleted: true };
      const parts = await partsOf(deps.db, snapshot);
      const host = runningOn(vm);
      for (const [i, part] of parts.entries()) {
        const base = part.volume;
        const children = (await listChildren(deps.db, base.id)).filter((v) => v.disk_id === part.diskId);
        if (children.length > 1) {
          throw new Conflict(
            'snapshot_in_preview',
            `volume ${base.id} has ${children.length} children: end the preview first`,
            {
              details: { volume_id: base.id },
            },
          );
        }
        const top = children[0];
        if (top) {
          await ctx.progress(i / parts.length, `merging disk ${part.diskName}`);
          await setVolumeState(deps.db, [base.id, top.id], 'merging');
          try {
            await merge(host, vm, part, top, base, ctx);
          } catch (err) {
            await deps.db.transaction().execute(async (tx) => {
              await setVolumeState(tx, [base.id, top.id], 'illegal');
              await setSnapshotState(tx, snapshot.id, 'illegal');
            });
            throw err;
          }
          await deps.db.transaction().execute(async (tx) => {
            await replaceMergedVolume(tx, top, base.id);
            await tx
              .deleteFrom('snapshot_volumes')
              .where('snapshot_id', '=', snapshot.id)
              .where('disk_id', '=', part.diskId)
              .execute();
          });
        }
      }
      await deps.db.transaction().execute(async (tx) => {
        await deleteSnapshotRow(tx, snapshot.id);
        await audit.record(tx, {
          kind: 'snapshot.deleted',
          severity: 'info',
          message: `snapshot ${snapshot.id} of VM ${vm.name} was deleted (${host ? 'live' : 'cold'} merge)`,
          object: { kind: 'vm', id: vm.id, name: vm.name },
          details: { snapshot_id: snapshot.id, operation_id: ctx.op.id },
        });
      });
      return { deleted: true, live: host !== null };
    },
  });

  async function merge(
    host: string | null,
    vm: VmRow,
    part: DiskPart,
    top: VolumeRow,
    base: VolumeRow,
    ctx: OperationContext,
  ): Promise<void> {
    const jobId = `merge-${top.id.slice(0, 8)}`;
    const onEvent = (h: string, name: string, p: Record<string, unknown>) => {
      if (name !== 'job.progress' || p.job_id !== jobId || p.state !== 'running') return;
      const f = typeof p.progress === 'number' ? p.progress : 0;
      ctx.progress(f, `merging disk ${part.diskName}: ${Math.round(f * 100)} %`).catch(() => undefined);
      void h;
    };
    hub.on('event', onEvent);
    try {
      const topPath = path(part.domain, part.diskId, top.id);
      const basePath = path(part.domain, part.diskId, base.id);
      if (host) {
        await hub.call(
          host,
          'vm.merge',
          { vm_id: vm.id, disk_id: part.diskId, top_path: topPath, base_path: basePath, job_id: jobId },
          { timeoutMs: MERGE_TIMEOUT_MS },
        );
      } else {
        const h = await hostForDomains(deps.db, hub, [part.domain]);
        const encryption = await keys.chain(part.diskId);
        await hub.call(
          h,
          'volume.merge',
          { top_path: topPath, base_path: basePath, job_id: jobId, ...encryption },
          { timeoutMs: MERGE_TIMEOUT_MS },
        );
      }
    } catch (err) {
      // The top is gone: an earlier run (or the agent's recovery, after it was restarted mid-merge)
      // finished the merge before the engine could record it.
      if (agentCodeOf(err) !== 'image_not_found' || (top.state !== 'merging' && top.state !== 'illegal'))
        throw err;
      ctx.log.warn({ top: top.id, base: base.id }, 'merge found already done');
    } finally {
      hub.off('event', onEvent);
    }
  }

  async function preview(ctx: OperationContext, vm: VmRow, snapshot: SnapshotView): Promise<void> {
    if (runningOn(vm))
      throw new Conflict('vm_not_down', `VM ${vm.name} must be down`, { details: { vm_id: vm.id } });
    const parts = await partsOf(deps.db, snapshot);
    const host = await hostForDomains(
      deps.db,
      hub,
      parts.map((p) => p.domain),
    );
    for (const part of parts) {
      const sv = snapshot.volumes.find((v) => v.disk_id === part.diskId);
      if (sv?.preview_volume_id) continue;
      const previous = await activeVolume(deps.db, part.diskId);
      if (!previous) throw new Error(`disk ${part.diskId} has no active volume`);
      const id = randomUUID();
      await insertVolume(deps.db, {
        id,
        disk_id: part.diskId,
        parent_id: part.volume.id,
        format: 'qcow2',
        size_bytes: part.volume.size_bytes,
      });
      await createOverlay(host, part, id, part.volume).catch(async (err) => {
        // A leftover child row would make the snapshot's volume look branched (delete refuses it).
        await deleteVolumeRow(deps.db, id).catch(() => undefined);
        throw err;
      });
      await deps.db.transaction().execute(async (tx) => {
        await activateVolume(tx, part.diskId, id);
        await setSnapshotPreview(tx, snapshot.id, part.diskId, id, previous.id);
      });
    }
    await deps.db.transaction().execute(async (tx) => {
      await setSnapshotState(tx, snapshot.id, 'in_preview');
      // The RAM saved with the snapshot matches these fresh overlays: the next start resumes it.
      if (snapshot.memory) await requestMemoryRestore(tx, vm.id, snapshot.id);
    });
    await ctx.progress(0.5, 'previewing');
  }

  async function commit(vm: VmRow, snapshot: SnapshotView): Promise<number> {
    const fresh = (await findSnapshot(deps.db, snapshot.id)) as SnapshotView;
    const parts = await partsOf(deps.db, fresh);
    const host = await hostForDomains(
      deps.db,
      hub,
      parts.map((p) => p.domain),
    );
    let dropped = 0;
    for (const part of parts) {
      const sv = fresh.volumes.find((v) => v.disk_id === part.diskId);
      if (!sv?.previous_volume_id) continue;
      // The old branch: from the replaced leaf up to (not including) the snapshot's volume.
      const branch: VolumeRow[] = [];
      for (let v = await findVolume(deps.db, sv.previous_volume_id); v && v.id !== part.volume.id; ) {
        branch.push(v);
        v = v.parent_id ? await findVolume(deps.db, v.parent_id) : undefined;
      }
      const ids = new Set(branch.map((v) => v.id));
      const later = (await listSnapshots(deps.db, vm.id)).filter(
        (s) => s.id !== fresh.id && s.volumes.some((x) => ids.has(x.volume_id)),
      );
      for (const s of later) await deleteSnapshotRow(deps.db, s.id);
      dropped += later.length;
      for (const v of branch) {
        await deleteVolumeFile(host, part, v.id);
        await deleteVolumeRow(deps.db, v.id);
      }
      await setSnapshotPreview(deps.db, fresh.id, part.diskId, null, null);
    }
    await setSnapshotState(deps.db, fresh.id, 'ok');
    return dropped;
  }

  async function undo(vm: VmRow, snapshot: SnapshotView): Promise<void> {
    // Back on the latest volumes: the snapshot's RAM no longer matches the disks.
    await clearMemoryRestore(deps.db, vm.id);
    const parts = await partsOf(deps.db, snapshot);
    const host = await hostForDomains(
      deps.db,
      hub,
      parts.map((p) => p.domain),
    );
    for (const part of parts) {
      const sv = snapshot.volumes.find((v) => v.disk_id === part.diskId);
      if (!sv?.preview_volume_id || !sv.previous_volume_id) continue;
      const previewId = sv.preview_volume_id;
      await deps.db.transaction().execute(async (tx) => {
        await activateVolume(tx, part.diskId, sv.previous_volume_id as string);
        await setSnapshotPreview(tx, snapshot.id, part.diskId, null, null);
        await deleteVolumeRow(tx, previewId);
      });
      await deleteVolumeFile(host, part, previewId).catch((err) => {
        deps.log.warn({ err, vm_id: vm.id, volume_id: previewId }, 'deleting the preview overlay failed');
      });
    }
    await setSnapshotState(deps.db, snapshot.id, 'ok');
  }

  const record = (vm: VmRow, snapshot: SnapshotView, ctx: OperationContext, kind: string, message: string) =>
    audit.record(deps.db, {
      kind,
      severity: 'info',
      message,
      object: { kind: 'vm', id: vm.id, name: vm.name },
      details: { snapshot_id: snapshot.id, operation_id: ctx.op.id },
    });

  registry.register('snapshot.preview', {
    resumable: true,
    run: async (ctx) => {
      const { vm, snapshot } = await loadSnapshot(deps.db, ctx);
      if (!snapshot) throw new NotFound('snapshot_not_found', 'the snapshot is gone', { details: {} });
      await preview(ctx, vm, snapshot);
      await record(
        vm,
        snapshot,
        ctx,
        'snapshot.previewing',
        `VM ${vm.name} now runs on a preview of snapshot ${snapshot.id}`,
      );
      return { snapshot_id: snapshot.id };
    },
  });

  registry.register('snapshot.commit', {
    resumable: true,
    run: async (ctx) => {
      const { vm, snapshot } = await loadSnapshot(deps.db, ctx);
      if (!snapshot) throw new NotFound('snapshot_not_found', 'the snapshot is gone', { details: {} });
      const dropped = await commit(vm, snapshot);
      await record(
        vm,
        snapshot,
        ctx,
        'snapshot.committed',
        `VM ${vm.name} keeps the state of snapshot ${snapshot.id}`,
      );
      return { snapshot_id: snapshot.id, snapshots_dropped: dropped };
    },
  });

  registry.register('snapshot.undo', {
    resumable: true,
    run: async (ctx) => {
      const { vm, snapshot } = await loadSnapshot(deps.db, ctx);
      if (!snapshot) throw new NotFound('snapshot_not_found', 'the snapshot is gone', { details: {} });
      await undo(vm, snapshot);
      await record(
        vm,
        snapshot,
        ctx,
        'snapshot.undone',
        `VM ${vm.name} is back to its state before the preview`,
      );
      return { snapshot_id: snapshot.id };
    },
  });

  registry.register('snapshot.revert', {
    resumable: true,
    run: async (ctx) => {
      const { vm, snapshot } = await loadSnapshot(deps.db, ctx);
      if (!snapshot) throw new NotFound('snapshot_not_found', 'the snapshot is gone', { details: {} });
      await preview(ctx, vm, snapshot);
      const dropped = await commit(vm, snapshot);
      await record(
        vm,
        snapshot,
        ctx,
        'snapshot.reverted',
        `VM ${vm.name} was reverted to snapshot ${snapshot.id}`,
      );
      return { snapshot_id: snapshot.id, snapshots_dropped: dropped };
    },
  });
}

function listChildren(db: Db, volumeId: string): Promise<VolumeRow[]> {
  return db.selectFrom('volumes').selectAll().where('parent_id', '=', volumeId).execute();
}
