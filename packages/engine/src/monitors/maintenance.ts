import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentHub } from '../agents/types';
import { findHost, lockHost, updateHost } from '../db/repositories/hosts';
import type { Db } from '../db/schema';
import { Conflict, NotFound } from '../errors';
import type { OperationHandler } from '../operations';
import type { AuditRecorder } from '../services/ports';

export const HOST_MAINTENANCE = 'host.maintenance';

/**
 * `host.maintenance`: the host is `preparing_maintenance` (so the scheduler places nothing new on
 * it) until its agent runs no VMs, then `maintenance`. Idempotent and resumable: a rerun after an
 * engine restart just looks again. An unreachable host goes straight to maintenance, since no VM
 * can be started there either; the result says the VM check could not be made.
 */
export function hostMaintenanceHandler(deps: {
  db: Db;
  agents: AgentHub;
  audit: AuditRecorder;
  pollMs?: number;
}): OperationHandler {
  const pollMs = deps.pollMs ?? 1000;
  return {
    resumable: true,
    async run({ op, signal, progress }) {
      const hostId = op.target?.id;
      if (!hostId) throw new Error('host.maintenance needs a host target');
      for (;;) {
        signal.throwIfAborted();
        const host = await findHost(deps.db, hostId);
        if (!host)
          throw new NotFound('host_not_found', `host ${hostId} was removed`, { details: { id: hostId } });
        if (host.state === 'maintenance') return { state: 'maintenance' };
        if (host.state !== 'preparing_maintenance') {
          throw new Conflict(
            'host_not_in_maintenance',
            `host ${host.name} was activated before it reached maintenance`,
            {
              details: { id: hostId, state: host.state },
            },
          );
        }
        const connected = deps.agents.isConnected(hostId);
        if (connected) {
          const { vms } = await deps.agents.call(
            hostId,
            'vm.list',
            { include_external: false },
            { timeoutMs: 15_000 },
          );
          const running = vms.filter((v) => v.state !== 'down').length;
          if (running > 0) {
            await progress(0.5, `waiting for ${running} VM(s) to stop`);
            await sleep(pollMs, undefined, { signal });
            continue;
          }
        }
        const done = await deps.db.transaction().execute(async (tx) => {
          const locked = await lockHost(tx, hostId);
          if (locked?.state !== 'preparing_maintenance') return false;
          await updateHost(tx, hostId, {
            state: 'maintenance',
            state_reason: connected ? 'no VMs run on it' : 'unreachable; its VMs could not be checked',
            state_changed_at: new Date(),
          });
          await deps.audit.record(tx, {
            kind: 'host.state_changed',
            severity: 'info',
            message: `Host ${locked.name} is now in maintenance`,
            object: { kind: 'host', id: hostId, name: locked.name },
            details: { from: 'preparing_maintenance', to: 'maintenance', operation_id: op.id },
          });
          return true;
        });
        if (done) return { state: 'maintenance', vms_checked: connected };
      }
    },
  };
}
