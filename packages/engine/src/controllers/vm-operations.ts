import { VM_ACTIONS, type VmAction } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { deleteVm, findVm, listVmDisks } from '../db/repositories/vms';
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
      const disks = (await listVmDisks(deps.db, [vm.id])).get(vm.id) ?? [];
      if (vm.host_id && deps.hub.isConnected(vm.host_id)) {
        await deps.hub.call(vm.host_id, 'vm.destroy', { vm_id: vm.id }).catch((err) => {
          // Never defined there (never started): nothing to remove.
          if (agentCodeOf(err) !== 'vm_not_found') throw err;
        });
      }
      await deps.db.transaction().execute(async (tx) => {
        await deleteVm(tx, vm.id);
        await deps.audit.record(tx, {
          kind: 'vm.deleted',
          severity: 'info',
          message: `VM ${vm.name} was deleted`,
          object: { kind: 'vm', id: vm.id, name: vm.name },
          userId: ctx.op.created_by,
          details: { operation_id: ctx.op.id },
        });
      });
      // The agent has no image removal yet: name the images left behind so a person can remove them.
      const left = disks.flatMap((d) => (d.path ? [d.path] : []));
      return { deleted: true, disks_left_on_host: left, host_id: vm.host_id };
    },
  });
}

function targetVm(target: { kind: string; id: string } | null): string {
  if (!target || target.kind !== 'vm') throw new Error('a vm.* operation without a VM target');
  return target.id;
}
