import { PageSection, Progress, Title } from '@patternfly/react-core';
import { ApiError } from '@vireo/client';
import { FormattedMessage, useIntl } from 'react-intl';
import { useLiveList } from '../../api';
import { When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { ResourceTable } from '../common/ResourceTable';
import { StateLabel } from '../common/StateLabel';
import { Placeholder } from '../placeholder/Placeholder';

// Local shapes: only the fields these lists show, so the pages do not depend on when the storage
// schemas land in @vireo/api.
interface StorageDomainRow {
  id: string;
  name: string;
  kind: string;
  backend: string;
  datacenter_id: string | null;
  state: string;
  total_bytes: number | null;
  free_bytes: number | null;
  created_at: string;
}
interface DiskRow {
  id: string;
  name: string;
  description: string;
  storage_domain_id: string;
  size_gib: number;
  format: string;
  state: string;
  vm_ids: string[];
  created_at: string;
}

/** Whether the engine offers `collection` at all (older engines answer route_not_found). */
function useAvailable(collection: string): boolean | undefined {
  const probe = useLiveList(collection, { limit: 1 });
  if (probe.isError) return !(probe.error instanceof ApiError && probe.error.code === 'route_not_found');
  return probe.isSuccess ? true : undefined;
}

function Usage({ d }: { d: StorageDomainRow }) {
  const intl = useIntl();
  if (d.total_bytes === null || d.free_bytes === null || d.total_bytes === 0) return <>—</>;
  const used = d.total_bytes - d.free_bytes;
  return (
    <Progress
      value={Math.round((used / d.total_bytes) * 100)}
      size="sm"
      aria-label={intl.formatMessage({ id: 'storage.used' })}
      label={`${intl.formatNumber(used / 2 ** 30, { maximumFractionDigits: 1 })} / ${intl.formatNumber(d.total_bytes / 2 ** 30, { maximumFractionDigits: 1 })} GiB`}
    />
  );
}

export function StorageDomainsPage() {
  const available = useAvailable('storage-domains');
  const dcs = useNames('datacenters');
  if (available === false) return <Placeholder titleId="nav.storageDomains" />;
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.storageDomains" />
      </Title>
      <ResourceTable<StorageDomainRow>
        collection="storage-domains"
        ariaLabelId="nav.storageDomains"
        columns={[
          { id: 'name', titleId: 'field.name', sort: 'name', render: (d) => d.name },
          { id: 'state', titleId: 'field.state', render: (d) => <StateLabel state={d.state} /> },
          { id: 'kind', titleId: 'field.kind', render: (d) => d.kind },
          { id: 'backend', titleId: 'field.backend', render: (d) => d.backend },
          {
            id: 'dc',
            titleId: 'field.datacenter',
            render: (d) => <RefLink names={dcs} path="datacenters" id={d.datacenter_id} />,
          },
          { id: 'usage', titleId: 'storage.used', render: (d) => <Usage d={d} /> },
          { id: 'created', titleId: 'field.created', render: (d) => <When value={d.created_at} /> },
        ]}
      />
    </PageSection>
  );
}

export function DisksPage() {
  const available = useAvailable('disks');
  const domains = useNames('storage-domains');
  const vms = useNames('vms');
  if (available === false) return <Placeholder titleId="nav.disks" />;
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.disks" />
      </Title>
      <ResourceTable<DiskRow>
        collection="disks"
        ariaLabelId="nav.disks"
        columns={[
          { id: 'name', titleId: 'field.name', sort: 'name', render: (d) => d.name },
          { id: 'state', titleId: 'field.state', render: (d) => <StateLabel state={d.state} /> },
          { id: 'size', titleId: 'field.sizeGib', render: (d) => d.size_gib },
          { id: 'format', titleId: 'field.format', render: (d) => d.format },
          {
            id: 'domain',
            titleId: 'nav.storageDomains',
            render: (d) => domains.get(d.storage_domain_id) ?? d.storage_domain_id.slice(0, 8),
          },
          {
            id: 'vms',
            titleId: 'nav.vms',
            render: (d) =>
              d.vm_ids.length === 0
                ? '—'
                : d.vm_ids.map((id, i) => (
                    <span key={id}>
                      {i > 0 && ', '}
                      <RefLink names={vms} path="vms" id={id} />
                    </span>
                  )),
          },
          { id: 'description', titleId: 'field.description', render: (d) => d.description },
        ]}
      />
    </PageSection>
  );
}
