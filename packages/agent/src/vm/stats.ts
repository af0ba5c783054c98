import { readFile } from 'node:fs/promises';
import type { VmNicStats, VmStatsSample } from '@vireo/agent-protocol';
import { CLOCK_TICKS_PER_SECOND, readProcStat, readRssBytes } from '../qemu/process/proc';
import type { ManagedVm } from './vm';

/** `/machine/peripheral/disk-x/virtio-backend` → `disk-x`; plain qdev ids stay as they are. */
function deviceName(qdev: string): string {
  const match = /^\/machine\/peripheral\/([^/]+)/.exec(qdev);
  return match?.[1] ?? qdev;
}

async function counter(ifname: string, name: string): Promise<number> {
  const text = await readFile(`/sys/class/net/${ifname}/statistics/${name}`, 'utf8');
  return Number(text.trim()) || 0;
}

/**
 * Counters of one tap, turned around to the guest's point of view: what the host side transmitted,
 * the guest received.
 */
async function tapStats(ifname: string): Promise<VmNicStats | undefined> {
  try {
    const [rxB, txB, rxP, txP, rxD, txD] = await Promise.all(
      ['tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'tx_dropped', 'rx_dropped'].map((n) =>
        counter(ifname, n),
      ),
    );
    return {
      ifname,
      rx_bytes: rxB ?? 0,
      tx_bytes: txB ?? 0,
      rx_packets: rxP ?? 0,
      tx_packets: txP ?? 0,
      rx_dropped: rxD ?? 0,
      tx_dropped: txD ?? 0,
    };
  } catch {
    return undefined;
  }
}

/**
 * One sample of a running VM: CPU time and RSS of its QEMU from `/proc` (no QEMU involvement), block
 * I/O from `query-blockstats` (one QMP round trip, ~1 ms), network I/O from its taps' counters.
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
  const taps = (vm.spec?.nics ?? []).flatMap((n) => (n.backend.type === 'tap' ? [n.backend.ifname] : []));
  const nics = (await Promise.all(taps.map(tapStats))).filter((n): n is VmNicStats => n !== undefined);
  return {
    vm_id: vm.id,
    cpu_time_ms: Math.round(((stat.utimeTicks + stat.stimeTicks) * 1000) / CLOCK_TICKS_PER_SECOND),
    rss_bytes: await readRssBytes(pid),
    block,
    nics,
  };
}
