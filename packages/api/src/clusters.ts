import { type Static, Type } from '@sinclair/typebox';
import { Description, ListQuery, Name, Page, Timestamp, Uuid } from './common';

/**
 * QEMU x86 CPU models a cluster may require of its hosts (QEMU 7.2 names). `host` passes the host
 * CPU through and only runs under KVM; `max` is every feature the accelerator offers; `qemu64` is
 * the portable baseline that also runs under TCG.
 */
export const CLUSTER_CPU_TYPES = [
  'qemu64',
  'kvm64',
  'max',
  'host',
  'Nehalem',
  'Westmere',
  'SandyBridge',
  'IvyBridge',
  'Haswell',
  'Broadwell',
  'Skylake-Client',
  'Skylake-Server',
  'Cascadelake-Server',
  'Cooperlake',
  'Icelake-Server',
  'Opteron_G4',
  'Opteron_G5',
  'EPYC',
  'EPYC-Rome',
  'EPYC-Milan',
] as const;
export type ClusterCpuType = (typeof CLUSTER_CPU_TYPES)[number];

/** How the scheduler spreads VMs over the cluster's hosts. */
export const SCHEDULING_POLICIES = ['none', 'evenly_distributed', 'power_saving'] as const;
export type SchedulingPolicy = (typeof SCHEDULING_POLICIES)[number];

export const MEMORY_OVERCOMMIT_MIN = 100;
export const MEMORY_OVERCOMMIT_MAX = 400;

const CpuType = Type.Union(
  CLUSTER_CPU_TYPES.map((c) => Type.Literal(c)),
  { description: 'QEMU CPU model every host of the cluster must provide.' },
);
const Policy = Type.Union(
  SCHEDULING_POLICIES.map((p) => Type.Literal(p)),
  { description: 'Scheduling policy name.' },
);
const Overcommit = Type.Integer({
  minimum: MEMORY_OVERCOMMIT_MIN,
  maximum: MEMORY_OVERCOMMIT_MAX,
  description: 'Guest memory the scheduler may place per 100 units of host memory.',
});

export const Cluster = Type.Object(
  {
    id: Uuid,
    name: Name,
    description: Description,
    datacenter_id: Uuid,
    cpu_type: CpuType,
    memory_overcommit_percent: Overcommit,
    scheduling_policy: Policy,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Cluster', description: 'A cluster: hosts sharing a CPU type and a scheduling policy' },
);
export type Cluster = Static<typeof Cluster>;

export const ClusterCreate = Type.Object(
  {
    name: Name,
    datacenter_id: Uuid,
    description: Type.Optional(Description),
    cpu_type: Type.Optional(CpuType),
    memory_overcommit_percent: Type.Optional(Overcommit),
    scheduling_policy: Type.Optional(Policy),
  },
  { additionalProperties: false },
);
export type ClusterCreate = Static<typeof ClusterCreate>;

/** PATCH body. A cluster does not move between data centers. Requires `If-Match`. */
export const ClusterUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    cpu_type: Type.Optional(CpuType),
    memory_overcommit_percent: Type.Optional(Overcommit),
    scheduling_policy: Type.Optional(Policy),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type ClusterUpdate = Static<typeof ClusterUpdate>;

export const CLUSTER_SORT_FIELDS = ['name', 'created_at', 'updated_at'] as const;
export const ClusterListQuery = ListQuery(CLUSTER_SORT_FIELDS, {
  datacenter_id: Type.Optional(Uuid),
});
export type ClusterListQuery = Static<typeof ClusterListQuery>;
export const ClusterPage = Page(Type.Ref(Cluster), 'ClusterPage');
