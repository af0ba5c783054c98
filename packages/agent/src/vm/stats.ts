import type { VmStatsSample } from '@vireo/agent-protocol';
import { CLOCK_TICKS_PER_SECOND, readProcStat, readRssBytes } from '../qemu/process/proc';
import type { ManagedVm } from './vm';

/** `/machine/peripheral/disk-x/virtio-backend` → `disk-x`; plain qdev ids stay as they are. */
function deviceName(qdev: string): string {
  const match = /^\/machine\/peripheral\/([^/]+)/.exec(qdev);
  return match?.[1] ?? qdev;
}

/**
 * One sample of a running VM: CPU time and RSS of its QEMU from `/proc` (no QEMU involvement), block
 * I/O from `query-blockstats` (one QMP round trip, ~1 ms).
 */
export async function sampleVm(vm: ManagedVm): Promise<VmStatsSample | undefined> {
  const pid = vm.runtime?.pid;
  if (pid === undefined) return undefined;
  const stat = await readProcStat(pid);
  if (!stat) return undefined;
  const block: VmStatsSample['block'] = [];
  if (vm.qmp && !vm.qmp.isClosed) {
    const stats = await vm.qmp.execute('query-blockstats', undefined, { timeoutMs: 2000 }).catch(() => []);
    for (const entry of stats) {
      if (!entry.qdev) continue;
      block.push({
        device: deviceName(entry.qdev),
        rd_bytes: entry.stats.rd_bytes,
        wr_bytes: entry.stats.wr_bytes,
        rd_operations: entry.stats.rd_operations,
        wr_operations: entry.stats.wr_operations,
      });
    }
  }
  return {
    vm_id: vm.id,
    cpu_time_ms: Math.round(((stat.utimeTicks + stat.stimeTicks) * 1000) / CLOCK_TICKS_PER_SECOND),
    rss_bytes: await readRssBytes(pid),
    block,
  };
}
