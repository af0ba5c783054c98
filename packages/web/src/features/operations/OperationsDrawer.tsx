import { Badge, Button, Divider, Popover, Stack, StackItem, Title } from '@patternfly/react-core';
import type { Operation } from '@vireo/client';
import { FormattedMessage, FormattedRelativeTime, useIntl } from 'react-intl';
import { Link, useInRouterContext } from 'react-router';
import { useActiveOperations, useOperationOn } from './active';
import { OperationBar } from './OperationProgress';

/** Where the portal shows an object of each kind an operation may act on. */
const PAGES: Record<string, string> = {
  datacenter: 'datacenters',
  cluster: 'clusters',
  host: 'hosts',
  vm: 'vms',
  template: 'templates',
  storage_domain: 'storage/domains',
};

/** "vm 6f1c2a50", a link to its page when it has one (and a router is there to follow it). */
function TargetRef({ target }: { target: NonNullable<Operation['target']> }) {
  const routed = useInRouterContext();
  const text = `${target.kind} ${target.id.slice(0, 8)}`;
  const page = PAGES[target.kind];
  if (!routed || !page) return <>{text}</>;
  return <Link to={`/${page}/${encodeURIComponent(target.id)}`}>{text}</Link>;
}

function secondsAgo(iso: string): number {
  return Math.round((Date.parse(iso) - Date.now()) / 1000);
}

/**
 * One operation: what (localized type), on what, how far (moving with the live progress frames),
 * and its outcome. Takes the operation object; see {@link OperationProgress} to follow one by id.
 */
export function OperationRow({ op }: { op: Operation }) {
  return (
    <div data-testid="operation" data-state={op.state} data-operation-id={op.id}>
      <OperationBar op={op} />
      <small>
        {op.target ? (
          <>
            <FormattedMessage id="operations.on" values={{ kind: <TargetRef target={op.target} /> }} />
            {' · '}
          </>
        ) : null}
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
 * The progress of whatever operation is acting on an object right now, for list rows and detail
 * headers ("Starting VM: 40 %"); renders nothing when no operation runs on it. Shares one query
 * of running operations with the masthead, so a table of 50 rows costs no extra request.
 */
export function OperationProgressFor({
  targetId,
  inline = true,
  size = 'sm',
}: {
  targetId: string;
  inline?: boolean;
  size?: 'sm' | 'md' | 'lg';
}) {
  const op = useOperationOn(targetId);
  if (!op) return null;
  return <OperationBar op={op} inline={inline} size={size} />;
}

/** The tasks list: what runs now (bars moving live), then the recently finished. */
export function OperationsList({ active, recent }: { active: Operation[]; recent: Operation[] }) {
  return (
    <Stack hasGutter data-testid="operations-list">
      <StackItem>
        <Title headingLevel="h3" size="md">
          <FormattedMessage id="operations.running" />
        </Title>
      </StackItem>
      {active.length === 0 ? (
        <StackItem data-testid="operations-none-running">
          <FormattedMessage id="operations.noneRunning" />
        </StackItem>
      ) : (
        active.map((op) => (
          <StackItem key={op.id}>
            <OperationRow op={op} />
          </StackItem>
        ))
      )}
      {recent.length > 0 ? (
        <>
          <Divider />
          <StackItem>
            <Title headingLevel="h3" size="md">
              <FormattedMessage id="operations.recent" />
            </Title>
          </StackItem>
          {recent.map((op) => (
            <StackItem key={op.id}>
              <OperationRow op={op} />
            </StackItem>
          ))}
        </>
      ) : null}
    </Stack>
  );
}

/**
 * The masthead's tasks indicator: a badge with the number of unfinished operations, and a popover
 * listing them with progress bars that move from the event stream, then the recent ones. Nothing
 * polls: operation events refresh the lists, progress frames move the bars in place.
 */
export function OperationsButton() {
  const intl = useIntl();
  const { active, recent, more } = useActiveOperations();
  const count = active.length;
  const shown = more ? intl.formatMessage({ id: 'operations.more' }, { count }) : String(count);
  return (
    <Popover
      aria-label={intl.formatMessage({ id: 'operations.title' })}
      headerContent={<FormattedMessage id="operations.title" />}
      minWidth="28rem"
      maxWidth="36rem"
      bodyContent={<OperationsList active={active} recent={recent} />}
    >
      <Button
        variant="plain"
        id="operations-button"
        aria-label={intl.formatMessage({ id: 'operations.badge' }, { count })}
      >
        <FormattedMessage id="operations.short" />{' '}
        <Badge isRead={count === 0} data-testid="operations-running" data-count={count}>
          {shown}
        </Badge>
      </Button>
    </Popover>
  );
}
