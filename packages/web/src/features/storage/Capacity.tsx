import { Progress, ProgressMeasureLocation, ProgressVariant } from '@patternfly/react-core';
import { useIntl } from 'react-intl';
import { usedPercent } from './domainForm';

const GIB = 2 ** 30;

/**
 * A domain's used space as a bar (warning from 80 %, danger from 95 %); "—" while unknown. Lists
 * show the short "used / total" label, the domain page the full sentence.
 */
export function Capacity({
  total,
  free,
  size = 'sm',
}: {
  total: number | null;
  free: number | null;
  size?: 'sm' | 'md';
}) {
  const intl = useIntl();
  const pct = usedPercent(total, free);
  if (pct === null || total === null || free === null) return <>—</>;
  const gib = (n: number) => intl.formatNumber(n / GIB, { maximumFractionDigits: 1 });
  return (
    <Progress
      value={pct}
      size={size}
      measureLocation={ProgressMeasureLocation.outside}
      variant={pct >= 95 ? ProgressVariant.danger : pct >= 80 ? ProgressVariant.warning : undefined}
      aria-label={intl.formatMessage({ id: 'storage.used' })}
      data-testid="capacity"
      label={intl.formatMessage(
        { id: size === 'sm' ? 'storage.capacityShort' : 'storage.capacityLabel' },
        { used: gib(total - free), total: gib(total), free: gib(free) },
      )}
    />
  );
}
