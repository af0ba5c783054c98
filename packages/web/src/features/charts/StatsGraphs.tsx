import {
  Card,
  CardBody,
  CardTitle,
  EmptyState,
  EmptyStateBody,
  Gallery,
  Label,
  Spinner,
} from '@patternfly/react-core';
import type { StatsSample } from '@vireo/api';
import { useMemo } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { formatValue, hasValues, latest, METRIC_UNIT, METRICS, type Metric, metricData } from './series';
import { TimeSeriesChart } from './TimeSeriesChart';
import './charts.css';
import { type StatsStreamStatus, useStatsStream } from './useStatsStream';

function Panel({ metric, samples }: { metric: Metric; samples: StatsSample[] }) {
  const intl = useIntl();
  const data = useMemo(() => metricData(samples, metric), [samples, metric]);
  const unit = METRIC_UNIT[metric];
  const labels = data.lines.map((l) => intl.formatMessage({ id: l.labelId }));
  const title = intl.formatMessage({ id: `charts.metric.${metric}` });
  const headline = data.lines
    .map((l, i) => `${labels[i]} ${formatValue(latest(l.values), unit, intl.locale)}`)
    .join(' · ');
  return (
    <Card isCompact data-testid={`graph-${metric}`}>
      <CardTitle>
        {title}
        {hasValues(data) ? <span className="vireo-chart-headline"> — {headline}</span> : null}
      </CardTitle>
      <CardBody>
        {hasValues(data) ? (
          <TimeSeriesChart
            data={data}
            unit={unit}
            labels={labels}
            locale={intl.locale}
            ariaLabel={`${title}: ${headline}`}
          />
        ) : (
          <EmptyState variant="xs">
            <EmptyStateBody>
              <FormattedMessage id={samples.length === 0 ? 'charts.noSamples' : 'charts.notMeasured'} />
            </EmptyStateBody>
          </EmptyState>
        )}
      </CardBody>
    </Card>
  );
}

function StreamLabel({ status }: { status: StatsStreamStatus }) {
  const color = status === 'live' ? 'green' : status === 'failed' ? 'red' : 'orange';
  return (
    <Label isCompact color={color} data-testid="graphs-status">
      <FormattedMessage id={`charts.stream.${status}`} />
    </Label>
  );
}

function Graphs({ kind, id }: { kind: 'host' | 'vm'; id: string }) {
  const { samples, status } = useStatsStream(kind, id);
  return (
    <div className="vireo-graphs" data-testid={`${kind}-graphs`}>
      <p className="vireo-graphs-caption">
        <FormattedMessage id="charts.caption" /> <StreamLabel status={status} />
        {status === 'connecting' ? <Spinner size="sm" aria-hidden /> : null}
      </p>
      <Gallery hasGutter minWidths={{ default: '100%', lg: '45%' }}>
        {METRICS.map((m) => (
          <Panel key={m} metric={m} samples={samples} />
        ))}
      </Gallery>
    </div>
  );
}

/** CPU, memory, network and disk I/O of a host over the engine's short history, live. */
export function HostGraphs({ hostId }: { hostId: string }) {
  return <Graphs kind="host" id={hostId} />;
}

/** CPU, memory, network and disk I/O of a VM over the engine's short history, live. */
export function VmGraphs({ vmId }: { vmId: string }) {
  return <Graphs kind="vm" id={vmId} />;
}
