import type { Cluster, DataCenter, Host, Vm } from '@vireo/client';
import { Link, useNavigate } from 'react-router';
import { api } from '../../api';
import { HostGraphs } from '../../app/optional';
import { DetailPage } from '../common/DetailPage';
import { When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { ObjectActions } from '../common/ObjectActions';
import { ResourceTable } from '../common/ResourceTable';
import { StateLabel } from '../common/StateLabel';
import { HOST_ACTIONS } from '../hosts/HostsPage';
import { HostStorageGroup } from '../hosts/HostStorage';
import { VM_ACTIONS } from '../vms/actions';
import { Field } from '../vms/VmDetailPage';

function ClustersOf({ datacenterId }: { datacenterId: string }) {
  return (
    <ResourceTable<Cluster>
      collection="clusters"
      ariaLabelId="nav.clusters"
      query={{ datacenter_id: datacenterId }}
      columns={[
        {
          id: 'name',
          titleId: 'field.name',
          sort: 'name',
          render: (c) => <Link to={`/clusters/${c.id}`}>{c.name}</Link>,
        },
        { id: 'cpu', titleId: 'field.cpuType', render: (c) => c.cpu_type },
      ]}
    />
  );
}

function HostsOf({ clusterId }: { clusterId: string }) {
  return (
    <ResourceTable<Host>
      collection="hosts"
      ariaLabelId="nav.hosts"
      query={{ cluster_id: clusterId }}
      rowActions={HOST_ACTIONS}
      columns={[
        {
          id: 'name',
          titleId: 'field.name',
          sort: 'name',
          render: (h) => <Link to={`/hosts/${h.id}`}>{h.name}</Link>,
        },
        { id: 'state', titleId: 'field.state', render: (h) => <StateLabel state={h.state} /> },
        { id: 'address', titleId: 'field.address', render: (h) => h.address },
      ]}
    />
  );
}

function VmsOf({ query }: { query: Record<string, string> }) {
  return (
    <ResourceTable<Vm>
      collection="vms"
      ariaLabelId="nav.vms"
      query={query}
      rowActions={VM_ACTIONS}
      columns={[
        {
          id: 'name',
          titleId: 'field.name',
          sort: 'name',
          render: (vm) => <Link to={`/vms/${vm.id}`}>{vm.name}</Link>,
        },
        { id: 'state', titleId: 'field.state', render: (vm) => <StateLabel state={vm.state} /> },
      ]}
    />
  );
}

export function DataCenterDetailPage() {
  const navigate = useNavigate();
  return (
    <DetailPage<DataCenter>
      collection="datacenters"
      actions={(dc) => (
        <ObjectActions
          item={dc}
          actions={[
            {
              id: 'delete',
              titleId: 'common.delete',
              danger: true,
              confirm: true,
              run: (x) => api.delete(`/datacenters/${x.id}`),
            },
          ]}
          after={{ delete: () => navigate('/datacenters', { replace: true }) }}
        />
      )}
      general={(dc) => (
        <>
          <Field id="field.name">{dc.name}</Field>
          <Field id="field.description">{dc.description || '—'}</Field>
          <Field id="field.storageFormat">{dc.storage_format}</Field>
          <Field id="field.compatibilityVersion">{dc.compatibility_version}</Field>
          <Field id="field.created">
            <When value={dc.created_at} />
          </Field>
        </>
      )}
      tabs={[
        { key: 'clusters', titleId: 'nav.clusters', render: (dc) => <ClustersOf datacenterId={dc.id} /> },
      ]}
    />
  );
}

export function ClusterDetailPage() {
  const dcs = useNames('datacenters');
  return (
    <DetailPage<Cluster>
      collection="clusters"
      general={(c) => (
        <>
          <Field id="field.name">{c.name}</Field>
          <Field id="field.description">{c.description || '—'}</Field>
          <Field id="field.datacenter">
            <RefLink names={dcs} path="datacenters" id={c.datacenter_id} />
          </Field>
          <Field id="field.cpuType">{c.cpu_type}</Field>
          <Field id="field.overcommit">{c.memory_overcommit_percent}%</Field>
          <Field id="field.schedulingPolicy">{c.scheduling_policy}</Field>
          <Field id="field.created">
            <When value={c.created_at} />
          </Field>
        </>
      )}
      tabs={[
        { key: 'hosts', titleId: 'nav.hosts', render: (c) => <HostsOf clusterId={c.id} /> },
        { key: 'vms', titleId: 'nav.vms', render: (c) => <VmsOf query={{ cluster_id: c.id }} /> },
      ]}
    />
  );
}

const Graphs = HostGraphs;

export function HostDetailPage() {
  const clusters = useNames('clusters');
  const navigate = useNavigate();
  return (
    <DetailPage<Host>
      collection="hosts"
      badge={(h) => <StateLabel state={h.state} />}
      actions={(h) => (
        <ObjectActions
          item={h}
          actions={HOST_ACTIONS}
          after={{ remove: () => navigate('/hosts', { replace: true }) }}
        />
      )}
      general={(h) => (
        <>
          <Field id="field.name">{h.name}</Field>
          <Field id="field.state">
            <StateLabel state={h.state} /> {h.state_reason}
          </Field>
          <Field id="field.address">
            <span className="vireo-mono">
              {h.address}:{h.port}
            </span>
          </Field>
          <Field id="field.cluster">
            <RefLink names={clusters} path="clusters" id={h.cluster_id} />
          </Field>
          <Field id="field.agentVersion">{h.agent_version ?? '—'}</Field>
          <Field id="field.lastHeartbeat">
            <When value={h.last_heartbeat_at} />
          </Field>
          <Field id="field.certificateExpires">
            <When value={h.certificate?.not_after} />
          </Field>
          <HostStorageGroup host={h} />
          <Field id="field.created">
            <When value={h.created_at} />
          </Field>
        </>
      )}
      tabs={[
        { key: 'vms', titleId: 'nav.vms', render: (h) => <VmsOf query={{ host_id: h.id }} /> },
        ...(Graphs
          ? [{ key: 'monitoring', titleId: 'tab.monitoring', render: (h: Host) => <Graphs hostId={h.id} /> }]
          : []),
      ]}
    />
  );
}
