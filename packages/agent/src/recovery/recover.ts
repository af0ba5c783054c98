import { readdir, readFile, rm } from 'node:fs/promises';
import { validateVmSpec } from '../qemu/argv';
import { isOwnedQemu, waitForExit } from '../qemu/process/proc';
import { readPidfile } from '../qemu/process/spawn';
import { QmpClient } from '../qemu/qmp';
import { vmPaths, vmsDir } from '../vm/paths';
import { resumeInterruptedMerges } from '../vm/snapshots';
import type { VmRuntime } from '../vm/runtime';
import { type RuntimeRecord, readOwner, readRuntime } from '../vm/store';
import { ManagedVm } from '../vm/vm';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface RecoverySummary {
  up: number;
  paused: number;
  down: number;
  damaged: number;
  /** Directories skipped because another agent id owns them (or their name is not a VM id). */
  foreign: number;
}

/**
 * Re-adopts the VMs of this agent's state directory after a (re)start. QEMU runs on its own, so a
 * VM whose QEMU still lives is reattached (PID + start time + `-uuid` checked, QMP reconnected, run
 * state re-queried: events sent while the agent was away are lost). A VM whose QEMU died meanwhile
 * is cleaned up and reported `down` (`crashed`). A directory that cannot be trusted is reported
 * `damaged` and its QEMU, if any, is left running untouched.
 */
export async function recoverVms(rt: VmRuntime): Promise<RecoverySummary> {
  const summary: RecoverySummary = { up: 0, paused: 0, down: 0, damaged: 0, foreign: 0 };
  let entries: string[];
  try {
    entries = await readdir(vmsDir(rt.cfg.stateDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return summary;
    throw err;
  }
  await Promise.all(
    entries.map(async (entry) => {
      if (!UUID.test(entry)) {
        if (!entry.startsWith('.')) summary.foreign++;
        return;
      }
      const outcome = await recoverOne(rt, entry).catch((err) => {
        rt.log.error({ err, vm_id: entry }, 'recovering VM failed');
        return 'damaged' as const;
      });
      summary[outcome]++;
    }),
  );
  rt.log.info(summary, 'recovery done');
  // Merges a previous agent left half done finish in the background (snapshots/live-merge.ts).
  await resumeInterruptedMerges(rt);
  return summary;
}

type Outcome = 'up' | 'paused' | 'down' | 'damaged' | 'foreign';

async function recoverOne(rt: VmRuntime, id: string): Promise<Outcome> {
  const paths = vmPaths(rt.cfg.stateDir, id);
  const log = rt.log.child({ vm_id: id });
  const owner = await readOwner(paths);
  if (owner !== undefined && owner !== rt.cfg.agentId) {
    log.warn({ owner }, 'state directory belongs to another agent; skipped');
    return 'foreign';
  }
  const vm = new ManagedVm(id, paths, null);
  rt.vms.set(id, vm);
  const markDamaged = (detail: string, record?: RuntimeRecord | { pid: number }): Outcome => {
    if (record) vm.runtime = { ...emptyRecord(), ...record };
    log.warn({ detail }, 'VM damaged; left alone');
    rt.transition(vm, 'damaged', 'damaged', detail);
    return 'damaged';
  };

  let specError: string | undefined;
  try {
    vm.spec = validateVmSpec(JSON.parse(await readFile(paths.spec, 'utf8')));
    if (vm.spec.id !== id) throw new Error(`spec id ${vm.spec.id} does not match the directory`);
  } catch (err) {
    vm.spec = null;
    specError = `spec.json unusable: ${(err as Error).message}`;
  }
  let record: RuntimeRecord | undefined;
  let recordError: string | undefined;
  try {
    record = await readRuntime(paths);
  } catch (err) {
    recordError = `runtime.json unusable: ${(err as Error).message}`;
  }
  const pidfilePid = await readPidfile(paths.pidfile);
  const pid = pidfilePid ?? record?.pid;
  const alive =
    pid !== undefined &&
    (await isOwnedQemu(pid, id, record && record.pid === pid ? record.start_ticks : undefined));

  if (!alive) {
    if (owner === undefined) return markDamaged('owner marker missing');
    if (specError) return markDamaged(specError);
    if (pid === undefined && !record) {
      rt.transition(vm, 'down', 'recovered');
      return 'down';
    }
    // It was running when the agent went away and is gone now: nobody asked it to stop.
    vm.runtime = record ?? null;
    vm.state = 'unknown';
    await rt.finishExit(vm, 'QEMU exited while the agent was not running');
    await rm(paths.pidfile, { force: true });
    return 'down';
  }
  if (owner === undefined) return markDamaged('owner marker missing while QEMU runs', { pid });
  if (specError) return markDamaged(`${specError} (QEMU still runs)`, { pid });
  if (recordError) return markDamaged(`${recordError} (QEMU still runs)`, { pid });
  if (pidfilePid === undefined) return markDamaged('pidfile missing while QEMU runs', { pid });
  if (!record) return markDamaged('runtime record missing while QEMU runs', { pid });

  vm.runtime = record;
  rt.reserveRecord(record);
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(paths.qmpSocket, { timeoutMs: 3000, logger: log });
  } catch (err) {
    // A QEMU that is exiting right now closes its socket first: that is a crash, not damage.
    if (await waitForExit(pid, 1000)) {
      vm.state = 'unknown';
      await rt.finishExit(vm, 'QEMU exited while the agent was not running');
      return 'down';
    }
    log.warn({ err }, 'QMP unreachable');
    return markDamaged(`QMP unreachable while QEMU runs: ${(err as Error).message}`);
  }
  vm.state = 'unknown';
  rt.attachQmp(vm, qmp);
  try {
    await rt.syncState(vm, true);
  } catch (err) {
    log.warn({ err }, 'query-status failed');
    return markDamaged(`QEMU does not answer query-status: ${(err as Error).message}`);
  }
  log.info({ pid, state: vm.state }, 'VM re-adopted');
  const state = vm.state as string;
  return state === 'paused' ? 'paused' : state === 'up' ? 'up' : 'down';
}

function emptyRecord(): RuntimeRecord {
  return {
    pid: 0,
    start_ticks: 0,
    started_at: new Date().toISOString(),
    accel: 'tcg',
    vnc: null,
    created_taps: [],
    hotplug_ports: {},
  };
}
