import { Button, PageSection, Title } from '@patternfly/react-core';
import { VM_API_STATES } from '@vireo/api';
import type { Vm } from '@vireo/client';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link, useNavigate } from 'react-router';
import { type Filter, ResourceTable } from '../common/ResourceTable';
import { When, MemorySize } from '../common/format';
import { RefLink, useNames, useOptions } from '../common/lookups';
import { StateLabel } from '../common/StateLabel';
import { useVmExportAction } from '../exports/ExportDialog';
import { VM_ACTIONS, VM_BULK_ACTIONS } from './actions';

/** Virtual machines: live list with search, sort, cluster and state filters, row and bulk actions. */
export function VmsPage() {
  const intl = useIntl();
  const navigate = useNavigate();
  const hosts = useNames('hosts');
  const clusters = useNames('clusters');
  const clusterOptions = useOptions('clusters');
  const exportVm = useVmExportAction();
  const filters: Filter<Vm>[] = [
    {
      id: 'cluster',
      titleId: 'field.cluster',
      options: clusterOptions,
      toQuery: (v) => ({ cluster_id: v }),
    },
    {
      id: 'state',
      titleId: 'field.state',
      options: VM_API_STATES.map((s) => ({
        value: s,
        label: intl.formatMessage({ id: `state.${s}`, defaultMessage: s }),
      })),
      match: (vm, v) => vm.state === v,
    },
  ];
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.vms" />
      </Title>
      <ResourceTable<Vm>
        collection="vms"
        ariaLabelId="nav.vms"
        filters={filters}
        rowActions={[...VM_ACTIONS, exportVm.action]}
        bulkActions={VM_BULK_ACTIONS}
        toolbar={
          <Button id="create-vm" onClick={() => navigate('/vms/new')}>
            <FormattedMessage id="vm.create" />
          </Button>
        }
        columns={[
          {
            id: 'name',
            titleId: 'field.name',
            sort: 'name',
            render: (vm) => <Link to={`/vms/${vm.id}`}>{vm.name}</Link>,
          },
          { id: 'state', titleId: 'field.state', render: (vm) => <StateLabel state={vm.state} /> },
          {
            id: 'host',
            titleId: 'field.host',
            render: (vm) => <RefLink names={hosts} path="hosts" id={vm.host_id} />,
          },
          {
            id: 'cluster',
            titleId: 'field.cluster',
            render: (vm) => <RefLink names={clusters} path="clusters" id={vm.cluster_id} />,
          },
          { id: 'cpus', titleId: 'field.cpus', render: (vm) => intl.formatNumber(vm.cpus) },
          { id: 'memory', titleId: 'field.memory', render: (vm) => <MemorySize mib={vm.memory_mib} /> },
          {
            id: 'created',
            titleId: 'field.created',
            sort: 'created_at',
            render: (vm) => <When value={vm.created_at} />,
          },
        ]}
      />
      {exportVm.view}
    </PageSection>
  );
}
