import {
  Alert,
  Card,
  CardBody,
  CardTitle,
  Content,
  Flex,
  FlexItem,
  Gallery,
  Label,
  PageSection,
  Skeleton,
  Title,
} from '@patternfly/react-core';
import type { Host, Vm } from '@vireo/api';
import type { VireoEvent } from '@vireo/client';
import { FormattedMessage, FormattedRelativeTime, useIntl } from 'react-intl';
import { Link } from 'react-router';
import { useLiveList } from '../../api';
import { formatValue } from '../charts/series';
import {
  alerts,
  type Capacity,
  capacity,
  countByState,
  type DomainLike,
  type OperationLike,
  percentOf,
  type StateCount,
} from './aggregate';
import { CapacityDonut } from './CapacityDonut';
import './dashboard.css';

/** Enough for one page of every inventory list on a dashboard; larger installations say "500+". */
const LIMIT = 500;

const HOST_STATES = ['up', 'connecting', 'non_responsive', 'maintenance', 'installing', 'install_failed'];
const VM_STATES = ['up', 'down', 'starting', 'paused', 'powering_down', 'migrating', 'unknown'];
const DOMAIN_STATES = ['active', 'inactive', 'maintenance', 'unattached', 'locked'];

const STATE_COLOR: Record<string, 'green' | 'red' | 'orange' | 'grey' | 'blue'> = {
  up: 'green',
  active: 'green',
  down: 'grey',
  non_responsive: 'red',
  install_failed: 'red',
  unknown: 'red',
  inactive: 'red',
  maintenance: 'orange',
  connecting: 'orange',
  paused: 'orange',
};

function InventoryCard({
  titleId,
  to,
  total,
  more,
  counts,
  loading,
}: {
  titleId: string;
  to: string;
  total: number;
  more: boolean;
  counts: StateCount[] | null;
  loading: boolean;
}) {
  const intl = useIntl();
  return (
    <Card isCompact data-testid={`inventory-${titleId}`}>
      <CardTitle>
        <Link to={to}>
          <FormattedMessage id={titleId} />
        </Link>
      </CardTitle>
      <CardBody>
        {loading ? (
          <Skeleton screenreaderText={intl.formatMessage({ id: 'dashboard.loading' })} />
        ) : (
          <>
            <Title headingLevel="h3" size="2xl" data-testid="inventory-total">
              {intl.formatNumber(total)}
              {more ? '+' : ''}
            </Title>
            {counts ? (
              <Flex spaceItems={{ default: 'spaceItemsSm' }}>
                {counts
                  .filter((c) => c.count > 0)
                  .map((c) => (
                    <FlexItem key={c.state}>
                      <Label isCompact color={STATE_COLOR[c.state] ?? 'blue'} data-state={c.state}>
                        <FormattedMessage id={`dashboard.state.${c.state}`} defaultMessage={c.state} />{' '}
                        {intl.formatNumber(c.count)}
                      </Label>
                    </FlexItem>
                  ))}
              </Flex>
            ) : null}
          </>
        )}
      </CardBody>
    </Card>
  );
}

function CapacityCard({ cap, kind }: { cap: Capacity; kind: 'cpu' | 'memory' | 'storage' }) {
  const intl = useIntl();
  const percent = percentOf(cap);
  const percentText =
    percent === null ? '–' : intl.formatNumber(percent / 100, { style: 'percent', maximumFractionDigits: 0 });
  const caption =
    cap.total === 0
      ? intl.formatMessage({ id: 'dashboard.capacity.none' })
      : kind === 'cpu'
        ? intl.formatMessage(
            { id: 'dashboard.capacity.cpu' },
            { used: intl.formatNumber(cap.used), total: intl.formatNumber(cap.total) },
          )
        : intl.formatMessage(
            { id: 'dashboard.capacity.bytes' },
            {
              used: formatValue(cap.used, 'bytes', intl.locale),
              total: formatValue(cap.total, 'bytes', intl.locale),
            },
          );
  return (
    <Card isCompact data-testid={`capacity-${kind}`}>
      <CardBody>
        <CapacityDonut
          capacity={cap}
          title={intl.formatMessage({ id: `dashboard.capacity.${kind}.title` })}
          caption={caption}
          percentText={percentText}
        />
      </CardBody>
    </Card>
  );
}

function RecentEvents({ events, loading }: { events: VireoEvent[]; loading: boolean }) {
  const intl = useIntl();
  const now = Date.now();
  return (
    <Card isCompact data-testid="recent-events">
      <CardTitle>
        <Link to="/events">
          <FormattedMessage id="dashboard.events.title" />
        </Link>
      </CardTitle>
      <CardBody>
        {loading ? <Skeleton screenreaderText={intl.formatMessage({ id: 'dashboard.loading' })} /> : null}
        {!loading && events.length === 0 ? (
          <Content component="p">
            <FormattedMessage id="dashboard.events.none" />
          </Content>
        ) : null}
        <ul className="vireo-recent-events">
          {events.map((e) => (
            <li key={e.id}>
              <Label
                isCompact
                color={e.severity === 'error' ? 'red' : e.severity === 'warning' ? 'orange' : 'grey'}
              >
                <FormattedMessage id={`dashboard.severity.${e.severity}`} defaultMessage={e.severity} />
              </Label>{' '}
              {/* Messages may carry user and guest text (names): rendered as text, never as HTML. */}
              <span className="vireo-event-message">{e.message}</span>{' '}
              <time
                dateTime={e.time}
                title={intl.formatDate(e.time, { dateStyle: 'medium', timeStyle: 'medium' })}
              >
                <FormattedRelativeTime
                  value={Math.round((Date.parse(e.time) - now) / 1000)}
                  numeric="auto"
                  updateIntervalInSeconds={30}
                />
              </time>
            </li>
          ))}
        </ul>
      </CardBody>
    </Card>
  );
}

/**
 * The Dashboard: inventory counts by state, capacity (CPU allocation, memory, storage), what needs
 * attention, and the latest events. Every list comes from the live query layer, so the page
 * follows the engine's event stream without polling.
 */
export function DashboardPage() {
  const intl = useIntl();
  const hosts = useLiveList<Host>('hosts', { limit: LIMIT });
  const vms = useLiveList<Vm>('vms', { limit: LIMIT });
  const datacenters = useLiveList<{ id: string }>('datacenters', { limit: LIMIT });
  const clusters = useLiveList<{ id: string }>('clusters', { limit: LIMIT });
  // Storage domains come with the storage issue: without that API the cards simply leave it out.
  const domains = useLiveList<DomainLike>('storage-domains', { limit: LIMIT });
  const failed = useLiveList<OperationLike>('operations', { state: 'failed', limit: 20 });
  const events = useLiveList<VireoEvent>('events', { limit: 8 });

  const hostItems = hosts.data?.items ?? [];
  const vmItems = vms.data?.items ?? [];
  const domainItems = domains.isError ? [] : (domains.data?.items ?? []);
  const cap = capacity(hostItems, vmItems, domainItems);
  const alertList = alerts(hostItems, failed.data?.items ?? [], domainItems);
  const more = (q: { data?: { next_cursor?: string | null } }) => Boolean(q.data?.next_cursor);

  return (
    <PageSection data-testid="dashboard">
      <Title headingLevel="h1" className="vireo-dashboard-title">
        <FormattedMessage id="nav.dashboard" />
      </Title>
      <Gallery hasGutter minWidths={{ default: '220px' }} className="vireo-dashboard-row">
        <InventoryCard
          titleId="nav.datacenters"
          to="/datacenters"
          total={datacenters.data?.items.length ?? 0}
          more={more(datacenters)}
          counts={null}
          loading={datacenters.isPending}
        />
        <InventoryCard
          titleId="nav.clusters"
          to="/clusters"
          total={clusters.data?.items.length ?? 0}
          more={more(clusters)}
          counts={null}
          loading={clusters.isPending}
        />
        <InventoryCard
          titleId="nav.hosts"
          to="/hosts"
          total={hostItems.length}
          more={more(hosts)}
          counts={countByState(hostItems, HOST_STATES)}
          loading={hosts.isPending}
        />
        <InventoryCard
          titleId="nav.vms"
          to="/vms"
          total={vmItems.length}
          more={more(vms)}
          counts={countByState(vmItems, VM_STATES)}
          loading={vms.isPending}
        />
        {domains.isError ? null : (
          <InventoryCard
            titleId="dashboard.inventory.storageDomains"
            to="/storage/domains"
            total={domainItems.length}
            more={more(domains)}
            counts={countByState(domainItems, DOMAIN_STATES)}
            loading={domains.isPending}
          />
        )}
      </Gallery>

      <Title headingLevel="h2" className="vireo-dashboard-heading">
        <FormattedMessage id="dashboard.capacity.title" />
      </Title>
      <Gallery hasGutter minWidths={{ default: '220px' }} className="vireo-dashboard-row">
        <CapacityCard cap={cap.cpu} kind="cpu" />
        <CapacityCard cap={cap.memory} kind="memory" />
        {domains.isError ? null : <CapacityCard cap={cap.storage} kind="storage" />}
      </Gallery>

      <Flex className="vireo-dashboard-row" alignItems={{ default: 'alignItemsFlexStart' }}>
        <FlexItem flex={{ default: 'flex_1' }}>
          <Card isCompact data-testid="alerts">
            <CardTitle>
              <FormattedMessage id="dashboard.alerts.title" />
            </CardTitle>
            <CardBody>
              {alertList.length === 0 ? (
                <Content component="p">
                  <FormattedMessage id="dashboard.alerts.none" />
                </Content>
              ) : (
                alertList.map((a) => (
                  <Alert
                    key={a.key}
                    isInline
                    isPlain
                    variant={a.severity}
                    title={intl.formatMessage({ id: a.messageId }, a.values)}
                    actionLinks={
                      a.link ? (
                        <Link to={a.link}>
                          <FormattedMessage id="dashboard.alerts.open" />
                        </Link>
                      ) : undefined
                    }
                  />
                ))
              )}
            </CardBody>
          </Card>
        </FlexItem>
        <FlexItem flex={{ default: 'flex_1' }}>
          <RecentEvents events={events.data?.items ?? []} loading={events.isPending} />
        </FlexItem>
      </Flex>
    </PageSection>
  );
}
