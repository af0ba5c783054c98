import type { SnapshotCreate } from '@vireo/api';
import type { Logger } from 'pino';
import { lockVm } from '../db/repositories/vms';
import {
  findSnapshot,
  insertSnapshot,
  listSnapshots,
  previewOf,
  type SnapshotView,
  setSnapshotState,
  snapshotTargets,
} from '../db/repositories/snapshots';
import type { Db, Executor } from '../db/schema';
import type { VmRow } from '../db/tables/vms';
import type { SnapshotState } from '../db/tables/snapshots';
import { Conflict, InvalidInput, NotFound } from '../errors';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';

/** Use cases of VM snapshots. Every change is an operation; these methods check and queue it. */
export interface SnapshotService {
  list(vmId: string): Promise<SnapshotView[]>;
  get(vmId: string, snapshotId: string): Promise<SnapshotView>;
  create(
    actor: Actor,
    vmId: string,
    input: SnapshotCreate,
  ): Promise<{ snapshot: SnapshotView; operationId: string }>;
  remove(
    actor: Actor,
    vmId: string,
    snapshotId: string,
  ): Promise<{ snapshot: SnapshotView; operationId: string }>;
  preview(
    actor: Actor,
    vmId: string,
    snapshotId: string,
  ): Promise<{ snapshot: SnapshotView; operationId: string }>;
  revert(
    actor: Actor,
    vmId: string,
    snapshotId: string,
  ): Promise<{ snapshot: SnapshotView; operationId: string }>;
  /** `commit` keeps the previewed state; `undo` drops it. */
  endPreview(
    actor: Actor,
    vmId: string,
    how: 'commit' | 'undo',
  ): Promise<{ snapshot: SnapshotView; operationId: string }>;
}

function vmIsDown(vm: { state: string; desired_state: string }): boolean {
  return vm.state === 'down' && vm.desired_state === 'down';
}

export function snapshotNotFound(id: string): NotFound {
  return new NotFound('snapshot_not_found', `snapshot ${id} does not exist`, { details: { id } });
}

/** States in which another snapshot operation on the VM must wait. */
const BUSY: SnapshotState[] = ['creating', 'deleting'];

export function createSnapshotService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  operations: OperationCreator;
}): SnapshotService {
  const { db, audit, operations } = deps;

  async function vmOrThrow(tx: Executor, vmId: string): Promise<VmRow> {
    const vm = await lockVm(tx, vmId);
    if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
    return vm;
  }

  async function snapshotOrThrow(
    tx: Executor,
    vmId: string,
    id: string,
    lock = false,
  ): Promise<SnapshotView> {
    const s = await findSnapshot(tx, id, lock);
    if (!s || s.vm_id !== vmId) throw snapshotNotFound(id);
    return s;
  }

  async function notBusy(tx: Executor, vm: VmRow): Promise<void> {
    const busy = (await listSnapshots(tx, vm.id)).filter((s) => BUSY.includes(s.state));
    if (busy.length > 0) {
      throw new Conflict('snapshot_busy', `VM ${vm.name} has a snapshot operation under way`, {
        details: { vm_id: vm.id, snapshots: busy.map((s) => ({ id: s.id, state: s.state })) },
      });
    }
  }

  async function noPreview(tx: Executor, vm: VmRow): Promise<void> {
    const p = await previewOf(tx, vm.id);
    if (p) {
      throw new Conflict(
        'snapshot_in_preview',
        `VM ${vm.name} is previewing snapshot ${p.id}: commit or undo it first`,
        {
          details: { vm_id: vm.id, snapshot_id: p.id },
        },
      );
    }
  }

  /** A running VM must be steadily up or paused: not half started or stopping. */
  function steady(vm: VmRow, what: string): void {
    if (!vmIsDown(vm) && vm.state !== 'up' && vm.state !== 'paused') {
      throw new Conflict(
        'vm_invalid_state',
        `VM ${vm.name} is ${vm.state}: try to ${what} again when it is up or down`,
        {
          details: { vm_id: vm.id, state: vm.state },
        },
      );
    }
  }

  function mustBeDown(vm: VmRow, what: string): void {
    if (!vmIsDown(vm)) {
      throw new Conflict('vm_not_down', `VM ${vm.name} must be down to ${what}`, {
        details: { vm_id: vm.id, state: vm.state },
      });
    }
  }

  /**
   * Preview and revert both switch a VM that is down onto a snapshot's volumes: same checks, then
   * an operation of `what.type`.
   */
  function bootFromSnapshot(
    actor: Actor,
    vmId: string,
    id: string,
    what: { type: string; doing: string; message: (vm: VmRow, s: SnapshotView) => string },
  ) {
    return db.transaction().execute(async (tx) => {
      const vm = await vmOrThrow(tx, vmId);
      const s = await snapshotOrThrow(tx, vmId, id, true);
      mustBeDown(vm, what.doing);
      await notBusy(tx, vm);
      await noPreview(tx, vm);
      if (s.state !== 'ok')
        throw new Conflict('snapshot_busy', `snapshot ${s.id} is ${s.state}`, {
          details: { state: s.state },
        });
      return queue(tx, actor, what.type, vm, s, `${what.type}_requested`, what.message(vm, s));
    });
  }

  async function queue(
    tx: Executor,
    actor: Actor,
    type: string,
    vm: VmRow,
    snapshot: SnapshotView,
    kind: string,
    message: string,
  ): Promise<{ snapshot: SnapshotView; operationId: string }> {
    const op = await operations.create(tx, {
      type,
      target: { kind: 'vm', id: vm.id },
      createdBy: actor.userId,
      input: { snapshot_id: snapshot.id },
    });
    await audit.record(tx, {
      kind,
      severity: 'info',
      message: `${message} by ${actor.username}`,
      object: { kind: 'vm', id: vm.id, name: vm.name },
      userId: actor.userId,
      username: actor.username,
      details: { snapshot_id: snapshot.id, operation_id: op.id },
    });
    return { snapshot: (await findSnapshot(tx, snapshot.id)) as SnapshotView, operationId: op.id };
  }

  return {
    list: (vmId) =>
      db.transaction().execute(async (tx) => {
        const vm = await tx.selectFrom('vms').select('id').where('id', '=', vmId).executeTakeFirst();
        if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
        return listSnapshots(tx, vmId);
      }),

    get: (vmId, id) => snapshotOrThrow(db, vmId, id),

    create: (actor, vmId, input) =>
      db.transaction().execute(async (tx) => {
        const vm = await vmOrThrow(tx, vmId);
        steady(vm, 'take a snapshot');
        await notBusy(tx, vm);
        await noPreview(tx, vm);
        const memory = input.memory ?? false;
        if (memory && (vm.state !== 'up' || vmIsDown(vm))) {
          throw new Conflict('vm_invalid_state', `a memory snapshot needs VM ${vm.name} running`, {
            details: { vm_id: vm.id, state: vm.state },
          });
        }
        const targets = await snapshotTargets(tx, vm.id);
        if (targets.length === 0) {
          throw new InvalidInput('vm_has_no_disks', `VM ${vm.name} has no disk to snapshot`, {
            details: { vm_id: vm.id },
          });
        }
        for (const t of targets) {
          if (t.disk_state !== 'ok' || t.volume.state !== 'ok') {
            throw new Conflict('snapshot_busy', `disk ${t.disk_name} is ${t.disk_state}: try again later`, {
              details: { disk_id: t.disk_id, state: t.disk_state, volume_state: t.volume.state },
            });
          }
          if (t.shareable) {
            throw new Conflict(
              'snapshot_busy',
              `disk ${t.disk_name} is shareable and cannot be snapshotted`,
              {
                details: { disk_id: t.disk_id },
              },
            );
          }
        }
        const row = await insertSnapshot(
          tx,
          {
            vm_id: vm.id,
            description: input.description ?? '',
            memory,
            memory_domain_id: memory ? (targets[0]?.domain.id ?? null) : null,
          },
          targets.map((t) => ({ disk_id: t.disk_id, volume_id: t.volume.id })),
        );
        const snapshot = { ...row, volumes: [] };
        return queue(
          tx,
          actor,
          'vm.snapshot',
          vm,
          snapshot,
          'vm.snapshot_requested',
          `a snapshot of VM ${vm.name} was requested`,
        );
      }),

    remove: (actor, vmId, id) =>
      db.transaction().execute(async (tx) => {
        const vm = await vmOrThrow(tx, vmId);
        const s = await snapshotOrThrow(tx, vmId, id, true);
        steady(vm, 'delete a snapshot');
        await notBusy(tx, vm);
        await noPreview(tx, vm);
        if (s.state !== 'ok' && s.state !== 'illegal') {
          throw new Conflict('snapshot_busy', `snapshot ${s.id} is ${s.state}`, {
            details: { state: s.state },
          });
        }
        await setSnapshotState(tx, s.id, 'deleting');
        return queue(
          tx,
          actor,
          'snapshot.delete',
          vm,
          s,
          'snapshot.delete_requested',
          `deleting snapshot ${s.id} of VM ${vm.name} was requested`,
        );
      }),

    preview: (actor, vmId, id) =>
      bootFromSnapshot(actor, vmId, id, {
        type: 'snapshot.preview',
        doing: 'preview a snapshot',
        message: (vm, s) => `a preview of snapshot ${s.id} of VM ${vm.name} was requested`,
      }),

    revert: (actor, vmId, id) =>
      bootFromSnapshot(actor, vmId, id, {
        type: 'snapshot.revert',
        doing: 'revert to a snapshot',
        message: (vm, s) => `reverting VM ${vm.name} to snapshot ${s.id} was requested`,
      }),

    endPreview: (actor, vmId, how) =>
      db.transaction().execute(async (tx) => {
        const vm = await vmOrThrow(tx, vmId);
        mustBeDown(vm, `${how} a snapshot preview`);
        const s = await previewOf(tx, vm.id);
        if (!s) {
          throw new Conflict('no_snapshot_in_preview', `VM ${vm.name} is not previewing a snapshot`, {
            details: { vm_id: vm.id },
          });
        }
        return queue(
          tx,
          actor,
          `snapshot.${how}`,
          vm,
          s,
          `snapshot.${how}_requested`,
          `${how === 'commit' ? 'committing' : 'undoing'} the preview of snapshot ${s.id} of VM ${vm.name} was requested`,
        );
      }),
  };
}
