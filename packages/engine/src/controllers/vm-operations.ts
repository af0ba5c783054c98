import { VM_ACTIONS, type VmAction } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { attachmentsOfDisk, deleteDisk, findDisk, listVmDisks, updateDisk } from '../db/repositories/disks';
import { deleteVm, findVm } from '../db/repositories/vms';
import { removeDiskFromStorage } from './disk-operations';
import type { Db } from '../db/schema';
import type { AuditRecorder } from '../services/ports';
import type { OperationRegistry } from '../operations';
import { agentCodeOf, type VmController } from './vm-controller';

/**
 * Handlers of the `vm.*` operation types. Power actions converge through the controller and are
 * resumable (level-triggered: running again after a restart is safe). `vm.delete` removes the
 * VM's definition from its host (`vm.destroy`) and then the row.
 */
export function registerVmOperations(
  registry: OperationRegistry,
  deps: { db: Db; hub: AgentHub; controller: VmController; audit: AuditRecorder; log: Logger },
): void {
  for (const action of VM_ACTIONS) {
    registry.register(`vm.${action}`, {
      resumable: true,
      run: async (ctx) => {
        const vmId = targetVm(ctx.op.target);
        return deps.controller.converge(vmId, action as VmAction, ctx);
      },
    });
  }
  registry.register('vm.delete', {
    resumable: true,
    run: async (ctx) => {
      const vmId = targetVm(ctx.op.target);
      const vm = await findVm(deps.db, vmId);
      // Already gone (a resumed run after the row was deleted): the work is done.
      if (!vm) return { deleted: true };
      const removeDisks = (ctx.op.input as { remove_disks?: boolean } | null)?.remove_disks !== false;
      const disks = (await listVmDisks(deps.db, [vm.id])).get(vm.id) ?? [];
      if (vm.host_id && deps.hub.isConnected(vm.host_id)) {
        await deps.hub.call(vm.host_id, 'vm.destroy', { vm_id: vm.id }).catch((err) => {
          // Never defined there (never started): nothing to remove.
          if (agentCodeOf(err) !== 'vm_not_found') throw err;
        });
      }
      // With remove_disks, the disks only this VM uses go with it (volumes first, then rows); a
      // shared disk another VM still has stays. Without it they stay as floating disks.
      const removed: string[] = [];
      if (removeDisks) {
        for (const d of disks) {
          const users = await attachmentsOfDisk(deps.db, d.id);
          if (users.some((u) => u.vm_id !== vm.id)) continue;
          const row = await findDisk(deps.db, d.id);
          if (!row) continue;
          await updateDisk(deps.db, d.id, undefined, { state: 'locked' });
          try {
            await removeDiskFromStorage(deps, row);
          } catch (err) {
            await updateDisk(deps.db, d.id, undefined, { state: 'illegal' });
            throw err;
          }
          removed.push(d.id);
        }
      }
      await deps.db.transaction().execute(async (tx) => {
        for (const id of removed) await deleteDisk(tx, id);
        await deleteVm(tx, vm.id);
        await deps.audit.record(tx, {
          kind: 'vm.deleted',
          severity: 'info',
          message: `VM ${vm.name} was deleted${removed.length ? ` with ${removed.length} disk(s)` : ''}`,
          object: { kind: 'vm', id: vm.id, name: vm.name },
          userId: ctx.op.created_by,
          details: { operation_id: ctx.op.id, removed_disk_ids: removed },
        });
      });
      return {
        deleted: true,
        removed_disk_ids: removed,
        detached_disk_ids: disks.map((d) => d.id).filter((id) => !removed.includes(id)),
      };
    },
  });
}

function targetVm(target: { kind: string; id: string } | null): string {
  if (target?.kind !== 'vm') throw new Error('a vm.* operation without a VM target');
  return target.id;
}
