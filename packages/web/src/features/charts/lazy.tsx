import { Spinner } from '@patternfly/react-core';
import { lazy, Suspense } from 'react';

const Host = lazy(() => import('./StatsGraphs').then((m) => ({ default: m.HostGraphs })));
const Vm = lazy(() => import('./StatsGraphs').then((m) => ({ default: m.VmGraphs })));

/** A host's graphs; the chart code is fetched on first use. */
export function HostGraphs({ hostId }: { hostId: string }) {
  return (
    <Suspense fallback={<Spinner size="lg" />}>
      <Host hostId={hostId} />
    </Suspense>
  );
}

/** A VM's graphs; the chart code is fetched on first use. */
export function VmGraphs({ vmId }: { vmId: string }) {
  return (
    <Suspense fallback={<Spinner size="lg" />}>
      <Vm vmId={vmId} />
    </Suspense>
  );
}
