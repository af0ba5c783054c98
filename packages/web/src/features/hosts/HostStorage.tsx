import {
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
} from '@patternfly/react-core';
import { type Host, hostStorageAbilities } from '@vireo/client';
import type { ReactNode } from 'react';
import { FormattedMessage } from 'react-intl';

function Row({ id, testId, children }: { id: string; testId: string; children: ReactNode }) {
  return (
    <DescriptionListGroup>
      <DescriptionListTerm>
        <FormattedMessage id={id} />
      </DescriptionListTerm>
      <DescriptionListDescription data-testid={testId}>{children}</DescriptionListDescription>
    </DescriptionListGroup>
  );
}

/** The agent's reason under a value, small: it is long and only needed when something is off. */
function Reason({ text }: { text: string }) {
  return text ? (
    <div>
      <small>{text}</small>
    </div>
  ) : null;
}

/**
 * The "Storage" group of a host's General tab: NFS access (kernel client or QEMU's userspace
 * driver, with the agent's reason) and template sealing (available, or unavailable and why).
 * "—" where the agent reported nothing. Place it inside the page's DescriptionList.
 */
export function HostStorageGroup({ host }: { host: Pick<Host, 'capabilities'> }) {
  const { nfs, seal } = hostStorageAbilities(host);
  return (
    <DescriptionListGroup>
      <DescriptionListTerm>
        <FormattedMessage id="host.storage" />
      </DescriptionListTerm>
      <DescriptionListDescription>
        <DescriptionList isCompact isHorizontal data-testid="host-storage">
          <Row id="host.storage.nfs" testId="host-storage-nfs">
            {nfs ? (
              <>
                <FormattedMessage
                  id={nfs.mode === 'kernel' ? 'host.storage.nfsKernel' : 'host.storage.nfsUserspace'}
                />
                <Reason text={nfs.reason} />
              </>
            ) : (
              '—'
            )}
          </Row>
          <Row id="host.storage.seal" testId="host-storage-seal">
            {!seal ? (
              '—'
            ) : seal.available ? (
              <>
                <FormattedMessage id="host.storage.sealAvailable" />
                <Reason text={seal.reason} />
              </>
            ) : (
              <FormattedMessage id="host.storage.sealUnavailable" values={{ reason: seal.reason }} />
            )}
          </Row>
        </DescriptionList>
      </DescriptionListDescription>
    </DescriptionListGroup>
  );
}
