import { basename, join } from 'node:path';
import type { VmBlockChainsResult } from '@vireo/agent-protocol';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { OPERATIONS_CHANNEL } from '../db/repositories/operations';
import { hostsSeeingDomain, updateDisk } from '../db/repositories/disks';
import {
  activateVolume,
  deleteSnapshotRow,
  deleteVolumeRow,
  findDiskRow,
  findSnapshot,
  type SnapshotView,
  setSnapshotState,
} from '../db/repositories/snapshots';
import { findStorageDomain } from '../db/repositories/storage-domains';
import { findVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import type { VolumeRow } from '../db/tables/disks';
import type { StorageDomainRow } from '../db/tables/storage';
import { diskDir } from '../domain/storage/paths';
import type { PgListener } from '../events/listener';
import { parseNotification } from '../operations/service';
import type { AuditRecorder } from '../services/ports';
import { type LeasedJob, runLeased } from './lease';
import { agentCodeOf } from './vm-controller';

/** How often the reconciler looks for stuck snapshots without being kicked. */
export const DEFAULT_SNAPSHOT_RECONCILE_MS = 30_000;
/** `vm.block_chains` queues behind the VM's lock (a memory save can take minutes). */
const CHAINS_TIMEOUT_MS = 5 * 60_000;

/** `VIREO_SNAPSHOT_RECONCILE_MS` (≥ 100), else the default. */
export function snapshotReconcileMsFromEnv(env: NodeJS.ProcessEnv): number {
  const v = Number(env.VIREO_SNAPSHOT_RECONCILE_MS);
  return Number.isInteger(v) && v >= 100 ? v : DEFAULT_SNAPSHOT_RECONCILE_MS;
}

export interface SnapshotReconcilerDeps {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  log: Logger;
  /** When given, a failed or cancelled operation triggers a pass at once. */
  listener?: PgListener;
  intervalMs?: number;
  holder?: string;
}

/** What one look at a stuck snapshot did. */
export type SettleOutcome =
  | 'completed'
  | 'rolled_back'
  | 'partial'
  | 'delete_ended'
  | 'waiting'
  | 'not_stuck';

/** Operation types whose end can leave a snapshot stuck, by the snapshot state they leave. */
const OWNER_TYPE = { creating: 'vm.snapshot', deleting: 'snapshot.delete' } as const;

/** One disk of a `creating` snapshot: the volume it froze and the overlay the operation added. */
interface CreatingDisk {
  diskId: string;
  domain: StorageDomainRow;
  frozen: string;
  overlay: VolumeRow | undefined;
}

/**
 * Level-triggered repair of snapshots whose operation ended without finishing them — the engine
 * was killed during `vm.snapshot` (it cannot resume: the agent call is not repeatable), or a
 * `snapshot.delete` failed, was cancelled or gave up. A snapshot is looked at only once no
 * `pending`/`running` operation of its kind names it.
 *
 * - `creating`: the agent is asked what the VM really runs on (`vm.block_chains`, which waits for
 *   the VM's lock, so never mid-switch). A disk whose active layer is the new overlay is completed
 *   (the overlay becomes the active volume); one still on the frozen volume is rolled back (the
 *   overlay file and row are removed). With the VM on no host, an overlay that exists on storage is
 *   kept (it is at worst empty, and may hold the guest's writes); a missing one is dropped. Nothing
 *   is decided while the VM's host or the domain's host is unreachable.
 * - `deleting`: volumes left `merging` become `illegal` and the snapshot `illegal` (deleting it
 *   again finishes the merge from its marker); if no merge had begun the snapshot is `ok` again.
 *
 * Periodic and leased (one engine at a time), plus kicked whenever an operation fails or is cancelled.
 */
export class SnapshotReconciler {
  private job: LeasedJob | undefined;
  private unlisten: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: SnapshotReconcilerDeps) {
    this.log = deps.log.child({ module: 'engine:snapshot-reconciler' });
  }

  start(): void {
    if (this.job) return;
    this.job = runLeased(
      this.deps.db,
      'snapshots.reconcile',
      this.deps.intervalMs ?? DEFAULT_SNAPSHOT_RECONCILE_MS,
      async () => {
        await this.pass();
      },
      { log: this.deps.log, ...(this.deps.holder ? { holder: this.deps.holder } : {}) },
    );
    this.unlisten = this.deps.listener?.on(OPERATIONS_CHANNEL, (payload) => {
      const n = parseNotification(payload);
      if (n?.state === 'failed' || n?.state === 'cancelled') this.kick();
    });
  }

  async stop(): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    await this.job?.stop();
    this.job = undefined;
  }

  /** Runs a pass soon (if this engine holds, or can take, the job's lease). */
  kick(): void {
    void this.job?.runNow();
  }

  /** One pass over every stuck snapshot; resolves with what happened to each. */
  async pass(): Promise<Map<string, SettleOutcome>> {
    const out = new Map<string, SettleOutcome>();
    for (const id of await this.stuck()) {
      try {
        out.set(id, await this.settle(id));
      } catch (err) {
        // Retried at the next pass: the agent may be busy or the host briefly away.
        this.log.warn({ err, snapshot_id: id }, 'settling a stuck snapshot failed; will retry');
      }
    }
    return out;
  }

  /** Snapshots `creating`/`deleting` that no unfinished operation of their kind names. */
  private async stuck(): Promise<string[]> {
    const rows = await sql<{ id: string }>`
      SELECT s.id FROM snapshots s
       WHERE s.state IN ('creating', 'deleting')
         AND NOT EXISTS (
           SELECT 1 FROM operations o
            WHERE o.state IN ('pending', 'running')
              AND o.input->>'snapshot_id' = s.id::text
              AND o.type = CASE s.state WHEN 'creating' THEN ${OWNER_TYPE.creating}
                                        ELSE ${OWNER_TYPE.deleting} END)
       ORDER BY s.created_at`.execute(this.deps.db);
    return rows.rows.map((r) => r.id);
  }

  /** Settles one snapshot if it is (still) stuck. */
  async settle(id: string): Promise<SettleOutcome> {
    const s = await findSnapshot(this.deps.db, id);
    if (s?.state === 'creating') return this.settleCreating(s);
    if (s?.state === 'deleting') return this.settleDeleting(s);
    return 'not_stuck';
  }

  private async settleCreating(s: SnapshotView): Promise<SettleOutcome> {
    const { db, hub } = this.deps;
    const vm = await findVm(db, s.vm_id);
    if (!vm) return 'not_stuck'; // the snapshot went with the VM (cascade)
    const disks: CreatingDisk[] = [];
    for (const sv of s.volumes) {
      const disk = await findDiskRow(db, sv.disk_id);
      const domain = disk ? await findStorageDomain(db, disk.storage_domain_id) : undefined;
      if (!domain) continue;
      // The overlay vm.snapshot inserted: a not yet activated child of the frozen volume.
      const overlay = await db
        .selectFrom('volumes')
        .selectAll()
        .where('disk_id', '=', sv.disk_id)
        .where('parent_id', '=', sv.volume_id)
        .where('active', '=', false)
        .where('on_storage', '=', false)
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
      disks.push({ diskId: sv.disk_id, domain, frozen: sv.volume_id, overlay });
    }

    // What the VM runs on, from the agent that runs it (if any host knows it).
    let chains: VmBlockChainsResult | undefined;
    if (vm.host_id && disks.some((d) => d.overlay)) {
      if (!hub.isConnected(vm.host_id)) return 'waiting';
      const first = disks[0];
      try {
        chains = await hub.call(
          vm.host_id,
          'vm.block_chains',
          {
            vm_id: vm.id,
            ...(s.memory && first
              ? { memory_path: join(diskDir(first.domain, first.diskId), `${s.id}.memory`) }
              : {}),
          },
          { timeoutMs: CHAINS_TIMEOUT_MS },
        );
      } catch (err) {
        if (agentCodeOf(err) !== 'vm_not_found') throw err;
      }
    }

    const keep: CreatingDisk[] = [];
    const drop: CreatingDisk[] = [];
    for (const d of disks) {
      if (!d.overlay) {
        drop.push(d);
        continue;
      }
      const overlayId = d.overlay.id;
      if (chains) {
        const chain = chains.disks.find((c) => c.disk_id === d.diskId)?.chain ?? [];
        const layers = chain.map((l) => basename(l.path));
        if (layers[0] === overlayId) keep.push(d);
        else if (!layers.includes(overlayId)) drop.push(d);
        else {
          // Inside the chain but not on top: not a state a snapshot leaves; a person must look.
          this.log.error({ snapshot_id: s.id, disk_id: d.diskId, chain }, 'overlay is inside the chain');
          return 'waiting';
        }
      } else {
        const exists = await this.volumeExists(d);
        if (exists === undefined) return 'waiting';
        (exists ? keep : drop).push(d);
      }
    }

    // Files first: a row without its file is harmless, a file the database forgot is a leak.
    for (const d of drop) {
      if (!d.overlay) continue;
      const host = this.hostFor(d.domain, vm.host_id);
      const h = await host;
      if (!h) return 'waiting';
      await hub.call(h, 'volume.delete', {
        domain_id: d.domain.id,
        disk_id: d.diskId,
        volume_id: d.overlay.id,
      });
    }

    const outcome: SettleOutcome =
      keep.length === 0 ? 'rolled_back' : drop.length === 0 ? 'completed' : 'partial';
    const memorySaved = chains ? (chains.memory_bytes ?? 0) > 0 : s.memory;
    const done = await db.transaction().execute(async (tx) => {
      const again = await findSnapshot(tx, s.id, true);
      if (again?.state !== 'creating') return false;
      for (const d of keep) {
        await activateVolume(tx, d.diskId, (d.overlay as VolumeRow).id);
        await updateDisk(tx, d.diskId, undefined, { state: 'ok' });
      }
      for (const d of drop) {
        if (d.overlay) await deleteVolumeRow(tx, d.overlay.id);
        await tx
          .deleteFrom('snapshot_volumes')
          .where('snapshot_id', '=', s.id)
          .where('disk_id', '=', d.diskId)
          .execute();
        await updateDisk(tx, d.diskId, undefined, { state: 'ok' });
      }
      if (keep.length === 0) await deleteSnapshotRow(tx, s.id);
      else {
        if (s.memory && !memorySaved) {
          // The disks switched but the RAM never reached its file: a disk-only snapshot.
          await tx
            .updateTable('snapshots')
            .set({ memory: false, memory_domain_id: null })
            .where('id', '=', s.id)
            .execute();
        }
        await setSnapshotState(tx, s.id, 'ok');
      }
      await this.deps.audit.record(tx, {
        kind: 'vm.snapshot_recovered',
        severity: 'warning',
        message:
          outcome === 'rolled_back'
            ? `snapshot ${s.id} of VM ${vm.name} was left unfinished and was rolled back (the VM never switched to it)`
            : `snapshot ${s.id} of VM ${vm.name} was left unfinished and was completed (the VM runs on it)`,
        object: { kind: 'vm', id: vm.id, name: vm.name },
        details: {
          snapshot_id: s.id,
          outcome,
          completed_disks: keep.map((d) => d.diskId),
          dropped_disks: drop.map((d) => d.diskId),
          observed: chains ? (chains.running ? 'qemu' : 'agent_spec') : 'storage',
          ...(s.memory ? { memory_saved: memorySaved } : {}),
        },
      });
      return true;
    });
    if (done) this.log.warn({ snapshot_id: s.id, vm_id: vm.id, outcome }, 'settled an unfinished snapshot');
    return done ? outcome : 'not_stuck';
  }

  private async settleDeleting(s: SnapshotView): Promise<SettleOutcome> {
    const vm = await findVm(this.deps.db, s.vm_id);
    if (!vm) return 'not_stuck';
    const done = await this.deps.db.transaction().execute(async (tx) => {
      const again = await findSnapshot(tx, s.id, true);
      if (again?.state !== 'deleting') return false;
      const frozen = again.volumes.map((v) => v.volume_id);
      // The merge marks the frozen volume and the one above it `merging` before it starts.
      const touched =
        frozen.length === 0
          ? []
          : await tx
              .selectFrom('volumes')
              .select(['id', 'state'])
              .where((eb) => eb.or([eb('id', 'in', frozen), eb('parent_id', 'in', frozen)]))
              .where('state', 'in', ['merging', 'illegal'])
              .execute();
      const merging = touched.filter((v) => v.state === 'merging').map((v) => v.id);
      if (merging.length > 0) {
        await tx
          .updateTable('volumes')
          .set({ state: 'illegal', updated_at: sql`now()` })
          .where('id', 'in', merging)
          .execute();
      }
      const state = touched.length > 0 ? 'illegal' : 'ok';
      await setSnapshotState(tx, s.id, state);
      await this.deps.audit.record(tx, {
        kind: 'snapshot.delete_ended',
        severity: 'warning',
        message:
          state === 'illegal'
            ? `deleting snapshot ${s.id} of VM ${vm.name} stopped during a merge: delete it again to finish`
            : `deleting snapshot ${s.id} of VM ${vm.name} stopped before any merge: the snapshot is kept`,
        object: { kind: 'vm', id: vm.id, name: vm.name },
        details: { snapshot_id: s.id, state, illegal_volumes: touched.map((v) => v.id) },
      });
      return true;
    });
    return done ? 'delete_ended' : 'not_stuck';
  }

  /** Whether the overlay's file exists; undefined when no connected host sees its domain. */
  private async volumeExists(d: CreatingDisk): Promise<boolean | undefined> {
    const host = await this.hostFor(d.domain, null);
    if (!host || !d.overlay) return undefined;
    try {
      await this.deps.hub.call(host, 'volume.info', {
        domain_id: d.domain.id,
        disk_id: d.diskId,
        volume_id: d.overlay.id,
        format: 'qcow2',
      });
      return true;
    } catch (err) {
      if (agentCodeOf(err) === 'image_not_found') return false;
      throw err;
    }
  }

  /** A connected host that sees the domain, preferring `preferred` (the VM's host). */
  private async hostFor(domain: StorageDomainRow, preferred: string | null): Promise<string | undefined> {
    const seeing = await hostsSeeingDomain(this.deps.db, domain);
    if (preferred && seeing.includes(preferred) && this.deps.hub.isConnected(preferred)) return preferred;
    return seeing.find((h) => this.deps.hub.isConnected(h));
  }
}
