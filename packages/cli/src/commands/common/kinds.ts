import type {
  Cluster,
  DataCenter,
  Host,
  Operation,
  Resource,
  ResourceApi,
  VireoClient,
  Vm,
} from '@vireo/client';
import type { Column } from '../../output/table';

/** What the generic commands and the completer need to know about one kind of object. */
export interface ResourceKind<T extends Resource = Resource> {
  /** Singular noun, as in commands (`datacenter`). */
  noun: string;
  /** For messages: "data center". */
  label: string;
  api(client: VireoClient): ResourceApi<T>;
  columns: Column<T>[];
  /** Referenced by name as well as id (operations are id-only). */
  named: boolean;
}

const when = (v: unknown) => (typeof v === 'string' ? v.replace(/\.\d+Z$/, 'Z') : v);

export const datacenterKind: ResourceKind<DataCenter> = {
  noun: 'datacenter',
  label: 'data center',
  api: (c) => c.datacenters,
  named: true,
  columns: [
    { header: 'NAME', value: (d) => d.name, minWidth: 10 },
    { header: 'ID', value: (d) => d.id, minWidth: 8 },
    { header: 'DESCRIPTION', value: (d) => d.description, overflow: 'wrap', minWidth: 12 },
  ],
};

export const clusterKind: ResourceKind<Cluster> = {
  noun: 'cluster',
  label: 'cluster',
  api: (c) => c.clusters,
  named: true,
  columns: [
    { header: 'NAME', value: (c) => c.name, minWidth: 10 },
    { header: 'ID', value: (c) => c.id, minWidth: 8 },
    {
      header: 'DATACENTER',
      value: (c) => (c as Cluster & { datacenter_name?: string }).datacenter_name ?? c.datacenter_id,
      minWidth: 10,
    },
    { header: 'DESCRIPTION', value: (c) => c.description, overflow: 'wrap', minWidth: 12 },
  ],
};

export const operationKind: ResourceKind<Operation> = {
  noun: 'operation',
  label: 'operation',
  api: (c) => c.operations,
  named: false,
  columns: [
    { header: 'ID', value: (o) => o.id, overflow: 'fixed' },
    { header: 'TYPE', value: (o) => o.type, minWidth: 10 },
    { header: 'STATE', value: (o) => o.state, overflow: 'fixed' },
    {
      header: 'PROGRESS',
      value: (o) => (typeof o.progress === 'number' ? `${Math.round(o.progress * 100)}%` : undefined),
      overflow: 'fixed',
      align: 'right',
    },
    {
      header: 'TARGET',
      value: (o) => (o.target ? `${o.target.kind}/${o.target.id}` : undefined),
      minWidth: 10,
    },
    { header: 'CREATED', value: (o) => when(o.created_at), minWidth: 10 },
  ],
};

export const vmKind: ResourceKind<Vm> = {
  noun: 'vm',
  label: 'VM',
  api: (c) => c.vms,
  named: true,
  columns: [
    { header: 'NAME', value: (v) => v.name, minWidth: 10 },
    { header: 'ID', value: (v) => v.id, minWidth: 8 },
    { header: 'STATE', value: (v) => v.state, overflow: 'fixed' },
    { header: 'CPUS', value: (v) => String(v.cpus), overflow: 'fixed', align: 'right' },
    { header: 'MEMORY', value: (v) => `${v.memory_mib} MiB`, overflow: 'fixed', align: 'right' },
    { header: 'HOST', value: (v) => v.host_id ?? undefined, minWidth: 8 },
  ],
};

export const hostKind: ResourceKind<Host> = {
  noun: 'host',
  label: 'host',
  api: (c) => c.hosts,
  named: true,
  columns: [
    { header: 'NAME', value: (h) => h.name, minWidth: 10 },
    { header: 'ID', value: (h) => h.id, minWidth: 8 },
    { header: 'STATE', value: (h) => h.state, overflow: 'fixed' },
    { header: 'ADDRESS', value: (h) => `${h.address}:${h.port}`, minWidth: 10 },
    { header: 'REASON', value: (h) => h.state_reason || undefined, overflow: 'wrap', minWidth: 10 },
  ],
};

/** Kinds whose names the completer offers, by noun. */
export const resourceKinds: Readonly<Record<string, ResourceKind>> = {
  datacenter: datacenterKind as unknown as ResourceKind,
  cluster: clusterKind as unknown as ResourceKind,
  operation: operationKind as unknown as ResourceKind,
  vm: vmKind as unknown as ResourceKind,
  host: hostKind as unknown as ResourceKind,
};
