import type { HostStats, VmStatsSample } from '@vireo/agent-protocol';
import { describe, expect, it } from 'vitest';
import { hostCounters, hostPoint, vmCounters, vmPoint } from './rates';

const VM = '11111111-2222-4333-8444-555555555555';

function vmSample(over: Partial<VmStatsSample> = {}): VmStatsSample {
  return {
    vm_id: VM,
    cpu_time_ms: 1000,
    rss_bytes: 200 * 1024 * 1024,
    block: [{ device: 'disk-a', rd_bytes: 1000, wr_bytes: 500, rd_operations: 1, wr_operations: 1 }],
    nics: [
      {
        ifname: 'vt1',
        rx_bytes: 100,
        tx_bytes: 50,
        rx_packets: 1,
        tx_packets: 1,
        rx_dropped: 0,
        tx_dropped: 0,
      },
    ],
    ...over,
  };
}

describe('vmPoint', () => {
  it('has no rates on the first sample, only memory', () => {
    const p = vmPoint(undefined, vmCounters(vmSample(), 10_000), 123, 99);
    expect(p).toEqual({
      at: 99,
      cpu_percent: null,
      memory_used_bytes: 123,
      memory_total_bytes: null,
      net_rx_bps: null,
      net_tx_bps: null,
      disk_read_bps: null,
      disk_write_bps: null,
    });
  });

  it('turns counter deltas into per-second rates over the agent interval', () => {
    const a = vmCounters(vmSample(), 10_000);
    const b = vmCounters(
      vmSample({
        cpu_time_ms: 1000 + 2500, // 2.5 s of CPU in 5 s of wall time
        block: [
          {
            device: 'disk-a',
            rd_bytes: 1000 + 50_000,
            wr_bytes: 500 + 10_000,
            rd_operations: 9,
            wr_operations: 9,
          },
        ],
        nics: [
          {
            ifname: 'vt1',
            rx_bytes: 100 + 5000,
            tx_bytes: 50 + 500,
            rx_packets: 3,
            tx_packets: 3,
            rx_dropped: 0,
            tx_dropped: 0,
          },
        ],
      }),
      15_000,
    );
    const p = vmPoint(a, b, 1, 2);
    expect(p.cpu_percent).toBe(50);
    expect(p.disk_read_bps).toBe(10_000);
    expect(p.disk_write_bps).toBe(2000);
    expect(p.net_rx_bps).toBe(1000);
    expect(p.net_tx_bps).toBe(100);
  });

  it('sums devices present in both samples and ignores a hot-plugged one', () => {
    const a = vmCounters(vmSample(), 0);
    const b = vmCounters(
      vmSample({
        block: [
          { device: 'disk-a', rd_bytes: 3000, wr_bytes: 500, rd_operations: 1, wr_operations: 1 },
          {
            device: 'disk-new',
            rd_bytes: 9_999_999,
            wr_bytes: 9_999_999,
            rd_operations: 1,
            wr_operations: 1,
          },
        ],
      }),
      2000,
    );
    expect(vmPoint(a, b, 1, 1).disk_read_bps).toBe(1000);
  });

  it('reports unknown, not negative, when counters went backwards (QEMU restarted)', () => {
    const a = vmCounters(vmSample({ cpu_time_ms: 50_000 }), 0);
    const b = vmCounters(
      vmSample({
        cpu_time_ms: 10,
        block: [{ device: 'disk-a', rd_bytes: 1, wr_bytes: 1, rd_operations: 0, wr_operations: 0 }],
      }),
      5000,
    );
    const p = vmPoint(a, b, 1, 1);
    expect(p.cpu_percent).toBeNull();
    expect(p.disk_read_bps).toBeNull();
    expect(p.net_rx_bps).toBe(0);
  });

  it('has no network rate for a VM without tap NICs, and none for a zero interval', () => {
    const a = vmCounters(vmSample({ nics: [] }), 1000);
    expect(vmPoint(a, vmCounters(vmSample({ nics: [] }), 2000), 1, 1).net_rx_bps).toBeNull();
    expect(vmPoint(a, vmCounters(vmSample({ nics: [] }), 1000), 1, 1).cpu_percent).toBeNull();
  });
});

describe('hostPoint', () => {
  it('takes the CPU share and used/total memory from host.stats', () => {
    const stats: HostStats = {
      at: '2026-01-01T00:00:00.000Z',
      cpu: {
        percent: 37.5,
        user_percent: 30,
        system_percent: 7.5,
        iowait_percent: 0,
        steal_percent: 0,
        interval_s: 15,
        logical_cpus: 2,
      },
      memory: {
        total_bytes: 8000,
        available_bytes: 6000,
        used_bytes: 2000,
        free_bytes: 5000,
        swap_total_bytes: 0,
        swap_free_bytes: 0,
      },
      load: { one: 0, five: 0, fifteen: 0 },
      uptime_s: 1,
    };
    const p = hostPoint(stats, 5);
    expect(p).toMatchObject({ at: 5, cpu_percent: 37.5, memory_used_bytes: 2000, memory_total_bytes: 8000 });
  });

  it('turns the host I/O counters of two samples into rates, and not across a reboot', () => {
    const base = (at: string, rx: number, rd: number): HostStats => ({
      at,
      cpu: {
        percent: 1,
        user_percent: 1,
        system_percent: 0,
        iowait_percent: 0,
        steal_percent: 0,
        interval_s: 1,
        logical_cpus: 1,
      },
      memory: {
        total_bytes: 1,
        available_bytes: 1,
        used_bytes: 0,
        free_bytes: 1,
        swap_total_bytes: 0,
        swap_free_bytes: 0,
      },
      load: { one: 0, five: 0, fifteen: 0 },
      uptime_s: 1,
      io: { net_rx_bytes: rx, net_tx_bytes: 0, disk_read_bytes: rd, disk_write_bytes: 0 },
    });
    const first = base('2026-01-01T00:00:00.000Z', 1000, 5000);
    expect(hostPoint(first, 1).net_rx_bps).toBeNull();
    const second = base('2026-01-01T00:00:10.000Z', 21_000, 105_000);
    const p = hostPoint(second, 2, hostCounters(first));
    expect(p).toMatchObject({ net_rx_bps: 2000, net_tx_bps: 0, disk_read_bps: 10_000, disk_write_bps: 0 });
    const rebooted = base('2026-01-01T00:00:20.000Z', 10, 10);
    expect(hostPoint(rebooted, 3, hostCounters(second)).net_rx_bps).toBeNull();
    const { io: _io, ...withoutIo } = second;
    expect(hostCounters(withoutIo)).toBeUndefined();
  });
});
