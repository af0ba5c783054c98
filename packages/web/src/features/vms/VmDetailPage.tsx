import {
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Flex,
  FlexItem,
  PageSection,
  Spinner,
  Tab,
  Tabs,
  TabTitleText,
  Title,
  Tooltip,
} from '@patternfly/react-core';
import type { Vm } from '@vireo/client';
import type { ReactNode } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { useLiveObject } from '../../api';
import { consolePath, serialPath, VmGraphs } from '../../app/optional';
import { useActionRunner } from '../common/actions';
import { MemorySize, When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { StateLabel } from '../common/StateLabel';
import { EventsTable } from '../events/EventsTable';
import { SnapshotsTab } from '../snapshots/SnapshotsTab';
import { NewTemplateButton } from '../templates/NewTemplate';
import { VM_ACTIONS } from './actions';
import { VmDisksTab } from './VmDisksTab';
import { VmNicsTab } from './VmNicsTab';
import { ExportButton } from '../exports/ExportDialog';

export function Field({ id, children }: { id: string; children: ReactNode }) {
  return (
    <DescriptionListGroup>
      <DescriptionListTerm>
        <FormattedMessage id={id} />
      </DescriptionListTerm>
      <DescriptionListDescription>{children}</DescriptionListDescription>
    </DescriptionListGroup>
  );
}

/** The CD-ROM as an ISO-directory name (`image`) or a file on an ISO domain (`file`). */
function cdromLabel(cdrom: object | null): string {
  const c = cdrom as { image?: unknown; file?: unknown } | null;
  if (typeof c?.image === 'string') return c.image;
  if (typeof c?.file === 'string') return c.file;
  return '—';
}

/** The breadcrumb of a VM page: its name. */
export function VmCrumb({ id }: { id: string }) {
  const vm = useLiveObject<Vm>('vms', id);
  return <>{vm.data?.name ?? '…'}</>;
}

/**
 * A VM: state, power actions and "make template" on top; tabs General, Disks, NICs, Snapshots,
 * Monitoring, Events.
 */
export function VmDetailPage() {
  const { id = '' } = useParams();
  const intl = useIntl();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'general';
  const vm = useLiveObject<Vm>('vms', id);
  const hosts = useNames('hosts');
  const clusters = useNames('clusters');
  const runner = useActionRunner<Vm>();

  if (vm.isPending) return <Spinner />;
  if (vm.isError) {
    return (
      <PageSection>
        <Title headingLevel="h1">{vm.error.message}</Title>
      </PageSection>
    );
  }
  const v = vm.data;
  const console = consolePath(v.id);
  const serial = serialPath(v.id);
  return (
    <PageSection>
      <Flex alignItems={{ default: 'alignItemsCenter' }}>
        <FlexItem>
          <Title headingLevel="h1" data-testid="vm-name">
            {v.name}
          </Title>
        </FlexItem>
        <FlexItem>
          <StateLabel state={v.state} />
        </FlexItem>
        <FlexItem align={{ default: 'alignRight' }} className="vireo-actions">
          {VM_ACTIONS.map((a) => (
            <Button
              key={a.id}
              id={`vm-${a.id}`}
              variant={a.danger ? 'danger' : 'secondary'}
              size="sm"
              isDisabled={a.isDisabled?.(v)}
              onClick={() =>
                runner.request(
                  a,
                  [v],
                  a.id === 'delete' ? () => navigate('/vms', { replace: true }) : undefined,
                )
              }
            >
              <FormattedMessage id={a.titleId} />
            </Button>
          ))}
          <NewTemplateButton vm={v} />
          <ExportButton
            object={{ kind: 'vm', id: v.id, name: v.name }}
            isDisabled={v.state !== 'down'}
            buttonId="vm-export"
          />
          {console &&
            (v.console === 'serial' ? (
              // aria-disabled (not disabled) so the tooltip still shows on hover and focus.
              <Tooltip content={<FormattedMessage id="vmx.console.headless" />}>
                <Button id="vm-console" variant="primary" size="sm" isAriaDisabled>
                  <FormattedMessage id="vm.console" />
                </Button>
              </Tooltip>
            ) : (
              <Button
                id="vm-console"
                variant="primary"
                size="sm"
                component={(p) => <Link {...p} to={console} />}
              >
                <FormattedMessage id="vm.console" />
              </Button>
            ))}
          {serial && (
            <Button
              id="vm-serial"
              variant="secondary"
              size="sm"
              component={(p) => <Link {...p} to={serial} />}
            >
              <FormattedMessage id="vm.serial" />
            </Button>
          )}
        </FlexItem>
      </Flex>
      <Tabs
        activeKey={tab}
        onSelect={(_e, k) => setParams({ tab: String(k) }, { replace: true })}
        aria-label={intl.formatMessage({ id: 'nav.vms' })}
        mountOnEnter
        unmountOnExit
      >
        <Tab
          eventKey="general"
          title={<TabTitleText>{intl.formatMessage({ id: 'tab.general' })}</TabTitleText>}
        >
          <DescriptionList isHorizontal className="vireo-tab-body">
            <Field id="field.name">{v.name}</Field>
            <Field id="field.state">
              <StateLabel state={v.state} /> {v.state_reason}
            </Field>
            <Field id="field.desiredState">
              <FormattedMessage id={`state.${v.desired_state}`} defaultMessage={v.desired_state} />
            </Field>
            <Field id="field.host">
              <RefLink names={hosts} path="hosts" id={v.host_id} />
            </Field>
            <Field id="field.cluster">
              <RefLink names={clusters} path="clusters" id={v.cluster_id} />
            </Field>
            <Field id="field.cpus">{intl.formatNumber(v.cpus)}</Field>
            <Field id="field.memory">
              <MemorySize mib={v.memory_mib} />
            </Field>
            <Field id="field.osType">{v.os_type}</Field>
            <Field id="field.bootOrder">{v.boot_order.join(' → ')}</Field>
            <Field id="field.cdrom">{cdromLabel(v.cdrom)}</Field>
            <Field id="vmx.field.console">
              <FormattedMessage id={`vmx.console.${v.console}`} />
            </Field>
            <Field id="field.id">
              <span className="vireo-mono">{v.id}</span>
            </Field>
            <Field id="field.created">
              <When value={v.created_at} />
            </Field>
          </DescriptionList>
        </Tab>
        <Tab eventKey="disks" title={<TabTitleText>{intl.formatMessage({ id: 'tab.disks' })}</TabTitleText>}>
          <VmDisksTab vm={v} />
        </Tab>
        <Tab eventKey="nics" title={<TabTitleText>{intl.formatMessage({ id: 'tab.nics' })}</TabTitleText>}>
          <VmNicsTab vm={v} />
        </Tab>
        <Tab
          eventKey="snapshots"
          title={<TabTitleText>{intl.formatMessage({ id: 'tab.snapshots' })}</TabTitleText>}
        >
          <SnapshotsTab vm={v} />
        </Tab>
        {VmGraphs && (
          <Tab
            eventKey="monitoring"
            title={<TabTitleText>{intl.formatMessage({ id: 'tab.monitoring' })}</TabTitleText>}
          >
            <VmGraphs vmId={v.id} />
          </Tab>
        )}
        <Tab
          eventKey="events"
          title={<TabTitleText>{intl.formatMessage({ id: 'tab.events' })}</TabTitleText>}
        >
          <EventsTable objectId={v.id} pageSize={20} />
        </Tab>
      </Tabs>
      {runner.modal}
    </PageSection>
  );
}
