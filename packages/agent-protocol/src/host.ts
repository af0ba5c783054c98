/**
 * Host facts an agent reports: what the host can run (`host.capabilities`, read once and cached by
 * the agent, except for the NICs) and how loaded it is (`host.stats`, sampled from `/proc`).
 * Sizes are bytes, rates are per cent of the whole host (all CPUs = 100), times are RFC 3339.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const Bytes = Type.Integer({ minimum: 0 });
const Count = Type.Integer({ minimum: 0 });
const Percent = Type.Number({ minimum: 0, maximum: 100 });

export const AcceleratorNameSchema = Type.Union([Type.Literal('kvm'), Type.Literal('tcg')]);
export type AcceleratorName = Static<typeof AcceleratorNameSchema>;

export const HostAcceleratorSchema = Type.Object(
  {
    name: AcceleratorNameSchema,
    /** Whether a guest really runs with it here (for KVM: the probe's verdict, not just /dev/kvm). */
    usable: Type.Boolean(),
    /** Why, in words a person can act on ("probe guest did not finish within 3000 ms"). */
    reason: Type.String(),
  },
  strict,
);
export type HostAccelerator = Static<typeof HostAcceleratorSchema>;

export const HostCpuSchema = Type.Object(
  {
    /** `model name` of /proc/cpuinfo, e.g. "AMD EPYC" or "Intel(R) Xeon(R) Gold 6230". */
    model: Type.String(),
    /** `vendor_id`: GenuineIntel, AuthenticAMD… */
    vendor: Type.String(),
    /** Feature flags of the first CPU (`vmx`/`svm` tell hardware virtualization). */
    flags: Type.Array(Type.String()),
    sockets: Type.Integer({ minimum: 1 }),
    cores_per_socket: Type.Integer({ minimum: 1 }),
    threads_per_core: Type.Integer({ minimum: 1 }),
    /** Logical CPUs the kernel runs on (sockets × cores × threads when the topology is regular). */
    logical_cpus: Type.Integer({ minimum: 1 }),
    /** Current clock of the first CPU, when the kernel reports one. */
    mhz: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  },
  strict,
);
export type HostCpu = Static<typeof HostCpuSchema>;

export const HostNumaNodeSchema = Type.Object(
  {
    id: Count,
    /** Logical CPU numbers of the node (from its `cpulist`). */
    cpus: Type.Array(Count),
    memory_total_bytes: Bytes,
  },
  strict,
);
export type HostNumaNode = Static<typeof HostNumaNodeSchema>;

export const HostMachineTypeSchema = Type.Object(
  {
    /** Value for `-machine type=` (`pc-q35-7.2`, or an alias like `q35`). */
    name: Type.String(),
    description: Type.String(),
    /** For an alias (`q35`), the versioned type it stands for (`pc-q35-7.2`). */
    alias_of: Type.Union([Type.String(), Type.Null()]),
    /** QEMU's default machine type when none is given. */
    is_default: Type.Boolean(),
    deprecated: Type.Boolean(),
  },
  strict,
);
export type HostMachineType = Static<typeof HostMachineTypeSchema>;

export const HostQemuSchema = Type.Object(
  {
    /** The binary the agent launches VMs with. */
    binary: Type.String(),
    /** `major.minor.micro`, e.g. "7.2.22". */
    version: Type.String(),
    /** Distribution package version in parentheses after it, e.g. "Debian 1:7.2+dfsg-7+deb12u18". */
    package: Type.Union([Type.String(), Type.Null()]),
    machine_types: Type.Array(HostMachineTypeSchema),
  },
  strict,
);
export type HostQemu = Static<typeof HostQemuSchema>;

export const HostNicSchema = Type.Object(
  {
    name: Type.String(),
    mac: Type.String(),
    mtu: Count,
    /** Kernel `operstate`: up, down, unknown, dormant, lowerlayerdown… */
    operstate: Type.String(),
    is_bridge: Type.Boolean(),
    /** Backed by a device (PCI, virtio…) rather than purely virtual (bridge, veth, tap, dummy). */
    is_physical: Type.Boolean(),
    /** Link speed in Mbit/s; null when unknown (link down, virtual devices). */
    speed_mbps: Type.Union([Count, Type.Null()]),
    /** The bridge (or bond) this NIC is enslaved to, if any. */
    master: Type.Union([Type.String(), Type.Null()]),
  },
  strict,
);
export type HostNic = Static<typeof HostNicSchema>;

export const HostOsSchema = Type.Object(
  {
    /** `ID` of /etc/os-release (debian, ubuntu, rhel…). */
    id: Type.String(),
    version_id: Type.String(),
    pretty_name: Type.String(),
  },
  strict,
);
export type HostOs = Static<typeof HostOsSchema>;

/** `host.capabilities`: what this host can run. */
export const HostCapabilitiesSchema = Type.Object(
  {
    hostname: Type.String(),
    /** `uname -r` and `uname -v` of the host kernel. */
    kernel: Type.Object({ release: Type.String(), version: Type.String() }, strict),
    os: HostOsSchema,
    cpu: HostCpuSchema,
    memory_total_bytes: Bytes,
    numa_nodes: Type.Array(HostNumaNodeSchema),
    qemu: HostQemuSchema,
    /** Every accelerator the QEMU binary has, with whether it really works here. */
    accelerators: Type.Array(HostAcceleratorSchema),
    nics: Type.Array(HostNicSchema),
    collected_at: Type.String(),
    /**
     * How this host serves storage backends that depend on it: nfs domains are mounted with the
     * kernel client (`kernel`) or, without one, served in `userspace` mode (ADR 027).
     */
    storage: Type.Optional(
      Type.Object(
        {
          nfs: Type.Object(
            { mode: Type.Union([Type.Literal('kernel'), Type.Literal('userspace')]), reason: Type.String() },
            strict,
          ),
          /**
           * Whether templates can be sealed here (ADR 030): the appliance's kernel and initramfs
           * are installed (`reason` says where), or what is missing and how to get it.
           */
          seal: Type.Optional(Type.Object({ available: Type.Boolean(), reason: Type.String() }, strict)),
        },
        strict,
      ),
    ),
  },
  strict,
);
export type HostCapabilities = Static<typeof HostCapabilitiesSchema>;

export const HostCpuStatsSchema = Type.Object(
  {
    /** Busy share of all CPUs over `interval_s` (100 − idle − iowait). */
    percent: Percent,
    user_percent: Percent,
    system_percent: Percent,
    iowait_percent: Percent,
    /** Time stolen by the hypervisor when the host is itself a VM. */
    steal_percent: Percent,
    /** Seconds the percentages cover: since the previous sample, or since boot for the first one. */
    interval_s: Type.Number({ minimum: 0 }),
    logical_cpus: Type.Integer({ minimum: 1 }),
  },
  strict,
);
export type HostCpuStats = Static<typeof HostCpuStatsSchema>;

export const HostMemoryStatsSchema = Type.Object(
  {
    total_bytes: Bytes,
    /** What new work can get without swapping (`MemAvailable`): the number schedulers should use. */
    available_bytes: Bytes,
    /** total − available. */
    used_bytes: Bytes,
    free_bytes: Bytes,
    swap_total_bytes: Bytes,
    swap_free_bytes: Bytes,
  },
  strict,
);
export type HostMemoryStats = Static<typeof HostMemoryStatsSchema>;

/**
 * The host's own I/O since boot, for rates over time: bytes through its NICs (physical ones, or all
 * but loopback, bridges and taps where it has none) and to its whole disks.
 */
export const HostIoCountersSchema = Type.Object(
  {
    net_rx_bytes: Bytes,
    net_tx_bytes: Bytes,
    disk_read_bytes: Bytes,
    disk_write_bytes: Bytes,
  },
  strict,
);
export type HostIoCounters = Static<typeof HostIoCountersSchema>;

/** `host.stats` (method and event): one sample of the host's load. */
export const HostStatsSchema = Type.Object(
  {
    at: Type.String(),
    cpu: HostCpuStatsSchema,
    memory: HostMemoryStatsSchema,
    /** 1, 5 and 15 minute load averages. */
    load: Type.Object({ one: Type.Number(), five: Type.Number(), fifteen: Type.Number() }, strict),
    uptime_s: Type.Number({ minimum: 0 }),
    /** I/O counters; absent when the agent could not read them (or predates them). */
    io: Type.Optional(HostIoCountersSchema),
  },
  strict,
);
export type HostStats = Static<typeof HostStatsSchema>;

/**
 * Traffic counters of a VM's tap, seen from the guest: the host's transmit counters are what the
 * guest received, and the other way round.
 */
export const VmNicStatsSchema = Type.Object(
  {
    /** Host-side interface (the tap). */
    ifname: Type.String(),
    rx_bytes: Count,
    tx_bytes: Count,
    rx_packets: Count,
    tx_packets: Count,
    rx_dropped: Count,
    tx_dropped: Count,
  },
  strict,
);
export type VmNicStats = Static<typeof VmNicStatsSchema>;
