import { Alert, PageSection, Title, ToggleGroup, ToggleGroupItem } from '@patternfly/react-core';
import type { Vm } from '@vireo/api';
import type { ReactNode } from 'react';
import { FormattedMessage } from 'react-intl';
import { useNavigate, useParams } from 'react-router';
import { useLiveObject } from '../../api';
import { StateLabel } from '../common/StateLabel';
import './consoles.css';

/** VM states in which the engine hands out console tickets. */
const CONSOLE_STATES = new Set(['up', 'paused']);

/**
 * The frame of both console pages: the VM's name and state, a switch between VNC and serial, and
 * a notice instead of the console while the VM is not running. `children` renders the console.
 */
export function ConsolePage({ type, children }: { type: 'vnc' | 'serial'; children: (vm: Vm) => ReactNode }) {
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const vm = useLiveObject<Vm>('vms', id);
  const running = vm.data ? CONSOLE_STATES.has(vm.data.state) : false;
  return (
    <PageSection className="vireo-console-page" data-testid={`console-${type}`}>
      <div className="vireo-console-header">
        <Title headingLevel="h1">
          <FormattedMessage
            id={type === 'vnc' ? 'consoles.vnc.title' : 'consoles.serial.title'}
            values={{ name: vm.data?.name ?? '' }}
          />
        </Title>
        {vm.data ? <StateLabel state={vm.data.state} /> : null}
        <ToggleGroup isCompact>
          <ToggleGroupItem
            text="VNC"
            isSelected={type === 'vnc'}
            onChange={() => navigate(`/vms/${encodeURIComponent(id)}/console`)}
          />
          <ToggleGroupItem
            text={<FormattedMessage id="consoles.serial.short" />}
            isSelected={type === 'serial'}
            onChange={() => navigate(`/vms/${encodeURIComponent(id)}/serial`)}
          />
        </ToggleGroup>
      </div>
      {vm.isError ? (
        <Alert variant="danger" isInline title={<FormattedMessage id="consoles.vmMissing" />} />
      ) : null}
      {vm.data && !running ? (
        <Alert variant="info" isInline title={<FormattedMessage id="consoles.notRunning" />} />
      ) : null}
      {vm.data && running ? children(vm.data) : null}
    </PageSection>
  );
}
