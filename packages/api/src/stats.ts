import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from './common';

const Measured = (description: string) =>
  Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
    description: `${description}; null when unknown.`,
  });

/**
 * One point of a host's or VM's short stats history. Rates are averages over the interval since the
 * previous point; `null` means not measured (first point after a (re)start, a counter reset, or a
 * source the agent does not report, such as user-mode NICs).
 */
export const StatsSample = Type.Object(
  {
    at: Timestamp,
    cpu_percent: Type.Union([Type.Number({ minimum: 0, maximum: 100 }), Type.Null()], {
      description:
        'Hosts: busy share of all CPUs. VMs: CPU time of the VM process as a share of its vCPUs. 0–100; null when unknown.',
    }),
    memory_used_bytes: Measured('Hosts: total − available. VMs: resident memory of the VM process'),
    memory_total_bytes: Measured('Hosts: physical memory. VMs: configured memory'),
    net_rx_bps: Measured('Bytes received per second (VMs: by the guest, summed over tap NICs)'),
    net_tx_bps: Measured('Bytes sent per second (VMs: by the guest, summed over tap NICs)'),
    disk_read_bps: Measured('Bytes read per second (VMs: summed over disks)'),
    disk_write_bps: Measured('Bytes written per second (VMs: summed over disks)'),
  },
  { additionalProperties: false, description: 'One stats point' },
);
export type StatsSample = Static<typeof StatsSample>;

export const StatsHistory = Type.Object(
  {
    samples: Type.Array(StatsSample, { description: 'Oldest first.' }),
    retention_s: Type.Integer({ minimum: 0, description: 'How far back the engine keeps points.' }),
  },
  { description: 'Short in-memory history of agent stats (lost on engine restart)' },
);
export type StatsHistory = Static<typeof StatsHistory>;

export const StatsHistoryQuery = Type.Object(
  {
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'Only points strictly after this time (RFC 3339).' }),
    ),
  },
  { additionalProperties: false },
);
export type StatsHistoryQuery = Static<typeof StatsHistoryQuery>;
