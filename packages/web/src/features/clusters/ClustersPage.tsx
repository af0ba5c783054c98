import { Button, PageSection, Title } from '@patternfly/react-core';
import { CLUSTER_CPU_TYPES, SCHEDULING_POLICIES } from '@vireo/api';
import type { Cluster } from '@vireo/client';
import { useState } from 'react';
import { FormattedMessage } from 'react-intl';
import { Link } from 'react-router';
import { api } from '../../api';
import type { ObjectAction } from '../common/actions';
import { When } from '../common/format';
import { changedFields, type FormField, FormModal, type FormValues } from '../common/FormModal';
import { RefLink, useNames, useOptions } from '../common/lookups';
import { type Filter, ResourceTable } from '../common/ResourceTable';

const valuesOf = (c?: Cluster, dcId = ''): FormValues => ({
  name: c?.name ?? '',
  description: c?.description ?? '',
  datacenter_id: c?.datacenter_id ?? dcId,
  cpu_type: c?.cpu_type ?? CLUSTER_CPU_TYPES[0],
  memory_overcommit_percent: String(c?.memory_overcommit_percent ?? 100),
  scheduling_policy: c?.scheduling_policy ?? SCHEDULING_POLICIES[0],
});

/** Create or edit a cluster (the data center is chosen at creation only). */
export function ClusterForm({ cluster, onClose }: { cluster?: Cluster; onClose(): void }) {
  const dcs = useOptions('datacenters');
  const fields: FormField[] = [
    { name: 'name', labelId: 'field.name', required: true },
    { name: 'description', labelId: 'field.description', type: 'textarea' },
    ...(cluster
      ? []
      : [
          {
            name: 'datacenter_id',
            labelId: 'field.datacenter',
            type: 'select' as const,
            options: dcs,
            required: true,
          },
        ]),
    {
      name: 'cpu_type',
      labelId: 'field.cpuType',
      type: 'select',
      options: CLUSTER_CPU_TYPES.map((v) => ({ value: v, label: v })),
    },
    { name: 'memory_overcommit_percent', labelId: 'field.overcommit', type: 'number' },
    {
      name: 'scheduling_policy',
      labelId: 'field.schedulingPolicy',
      type: 'select',
      options: SCHEDULING_POLICIES.map((v) => ({ value: v, label: v })),
    },
  ];
  if (!cluster && dcs.length === 0) return null;
  const initial = valuesOf(cluster, dcs[0]?.value);
  return (
    <FormModal
      titleId={cluster ? 'cluster.edit' : 'cluster.create'}
      submitId={cluster ? 'common.save' : 'common.create'}
      fields={fields}
      initial={initial}
      onClose={onClose}
      onSubmit={async (v) => {
        if (!cluster) return api.create('/clusters', changedFields({}, v, ['memory_overcommit_percent']));
        const current = await api.request<Cluster>('GET', `/clusters/${cluster.id}`);
        const patch = changedFields(initial, v, ['memory_overcommit_percent']);
        return api.update(`/clusters/${cluster.id}`, patch, { ifMatch: current.etag });
      }}
    />
  );
}

export function ClustersPage() {
  const [form, setForm] = useState<{ cluster?: Cluster } | null>(null);
  const dcs = useNames('datacenters');
  const dcOptions = useOptions('datacenters');
  const filters: Filter<Cluster>[] = [
    {
      id: 'datacenter',
      titleId: 'field.datacenter',
      options: dcOptions,
      toQuery: (v) => ({ datacenter_id: v }),
    },
  ];
  const actions: ObjectAction<Cluster>[] = [
    { id: 'edit', titleId: 'common.edit', run: async (cluster) => setForm({ cluster }) },
    {
      id: 'delete',
      titleId: 'common.delete',
      danger: true,
      confirm: true,
      run: (c) => api.delete(`/clusters/${c.id}`),
    },
  ];
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.clusters" />
      </Title>
      <ResourceTable<Cluster>
        collection="clusters"
        ariaLabelId="nav.clusters"
        filters={filters}
        rowActions={actions}
        toolbar={
          <Button id="create-cluster" onClick={() => setForm({})}>
            <FormattedMessage id="cluster.create" />
          </Button>
        }
        columns={[
          {
            id: 'name',
            titleId: 'field.name',
            sort: 'name',
            render: (c) => <Link to={`/clusters/${c.id}`}>{c.name}</Link>,
          },
          {
            id: 'dc',
            titleId: 'field.datacenter',
            render: (c) => <RefLink names={dcs} path="datacenters" id={c.datacenter_id} />,
          },
          { id: 'cpu', titleId: 'field.cpuType', render: (c) => c.cpu_type },
          { id: 'policy', titleId: 'field.schedulingPolicy', render: (c) => c.scheduling_policy },
          { id: 'description', titleId: 'field.description', render: (c) => c.description },
          {
            id: 'created',
            titleId: 'field.created',
            sort: 'created_at',
            render: (c) => <When value={c.created_at} />,
          },
        ]}
      />
      {form && <ClusterForm cluster={form.cluster} onClose={() => setForm(null)} />}
    </PageSection>
  );
}
