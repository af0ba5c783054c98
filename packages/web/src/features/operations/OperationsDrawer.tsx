import {
  Badge,
  Button,
  Popover,
  Progress,
  ProgressMeasureLocation,
  ProgressVariant,
  Stack,
  StackItem,
} from '@patternfly/react-core';
import type { Operation } from '@vireo/client';
import { FormattedMessage, FormattedRelativeTime, useIntl } from 'react-intl';
import { useLiveList } from '../../api';

const RECENT = { limit: 8, sort: '-created_at' };

function variantOf(op: Operation): ProgressVariant | undefined {
  if (op.state === 'failed') return ProgressVariant.danger;
  if (op.state === 'cancelled') return ProgressVariant.warning;
  if (op.state === 'succeeded') return ProgressVariant.success;
  return undefined;
}

function secondsAgo(iso: string): number {
  return Math.round((Date.parse(iso) - Date.now()) / 1000);
}

/** One operation: what, on what, how far (the engine's progress fraction), and its outcome. */
export function OperationRow({ op }: { op: Operation }) {
  const intl = useIntl();
  const done = op.state === 'succeeded' ? 1 : op.progress;
  const title = `${op.type}${op.target ? ` · ${op.target.kind}` : ''}`;
  return (
    <div data-testid="operation" data-state={op.state}>
      <Progress
        value={Math.round(done * 100)}
        title={title}
        size="sm"
        measureLocation={ProgressMeasureLocation.outside}
        variant={variantOf(op)}
        helperText={
          op.error?.message ??
          op.progress_message ??
          intl.formatMessage({ id: `operation.state.${op.state}`, defaultMessage: op.state })
        }
        aria-label={title}
      />
      <small>
        <FormattedRelativeTime
          value={secondsAgo(op.created_at)}
          numeric="auto"
          updateIntervalInSeconds={10}
        />
      </small>
    </div>
  );
}

/**
 * The masthead's operations button: a badge with the number of unfinished operations, and the
 * recent ones with progress bars in a popover. It refreshes from the event stream (every
 * `operation.*` event invalidates the operations lists), never by polling.
 */
export function OperationsButton() {
  const intl = useIntl();
  const recent = useLiveList<Operation>('operations', RECENT);
  const items = recent.data?.items ?? [];
  const running = items.filter((o) => o.state === 'pending' || o.state === 'running').length;
  return (
    <Popover
      aria-label={intl.formatMessage({ id: 'operations.title' })}
      headerContent={<FormattedMessage id="operations.title" />}
      minWidth="28rem"
      bodyContent={
        items.length === 0 ? (
          <FormattedMessage id="operations.none" />
        ) : (
          <Stack hasGutter>
            {items.map((op) => (
              <StackItem key={op.id}>
                <OperationRow op={op} />
              </StackItem>
            ))}
          </Stack>
        )
      }
    >
      <Button
        variant="plain"
        id="operations-button"
        aria-label={intl.formatMessage({ id: 'operations.title' })}
      >
        <FormattedMessage id="operations.short" />{' '}
        <Badge isRead={running === 0} data-testid="operations-running">
          {running}
        </Badge>
      </Button>
    </Popover>
  );
}
