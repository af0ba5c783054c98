import { Label } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';

const COLORS: Record<string, 'green' | 'red' | 'orange' | 'blue' | 'grey' | 'purple'> = {
  up: 'green',
  down: 'grey',
  starting: 'blue',
  powering_down: 'orange',
  paused: 'purple',
  migrating: 'blue',
  unknown: 'red',
  installing: 'blue',
  connecting: 'orange',
  non_responsive: 'red',
  maintenance: 'orange',
  install_failed: 'red',
  active: 'green',
  inactive: 'grey',
  ok: 'green',
  locked: 'orange',
  illegal: 'red',
};

/** An object's state as a colored label, translated (`state.<value>`), the raw value as fallback. */
export function StateLabel({ state }: { state: string }) {
  return (
    <Label color={COLORS[state] ?? 'grey'} isCompact data-state={state}>
      <FormattedMessage id={`state.${state}`} defaultMessage={state} />
    </Label>
  );
}
