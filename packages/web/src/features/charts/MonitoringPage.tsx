import { PageSection, Title } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';
import { useParams } from 'react-router';
import { useLiveObject } from '../../api';
import { HostGraphs, VmGraphs } from './StatsGraphs';

function MonitoringPage({ kind }: { kind: 'host' | 'vm' }) {
  const { id = '' } = useParams();
  const object = useLiveObject<{ name: string }>(kind === 'host' ? 'hosts' : 'vms', id);
  return (
    <PageSection data-testid={`${kind}-monitoring`}>
      <Title headingLevel="h1" className="vireo-monitoring-title">
        <FormattedMessage id="charts.page.title" values={{ name: object.data?.name ?? '' }} />
      </Title>
      {kind === 'host' ? <HostGraphs hostId={id} /> : <VmGraphs vmId={id} />}
    </PageSection>
  );
}

/** Route component: `/hosts/:id/monitoring`, a host's graphs on a page of their own. */
export function HostMonitoringPage() {
  return <MonitoringPage kind="host" />;
}

/** Route component: `/vms/:id/monitoring`, a VM's graphs on a page of their own. */
export function VmMonitoringPage() {
  return <MonitoringPage kind="vm" />;
}
