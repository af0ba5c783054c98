import {
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
} from '@patternfly/react-core';
import type { Host } from '@vireo/client';
import type { ReactNode } from 'react';
import { FormattedMessage } from 'react-intl';

/** How a host reaches nfs domains (ADR 027) and whether it can seal templates (ADR 030). */
export interface HostStorageAbilities {
  nfs?: { mode: 'kernel' | 'userspace'; reason: string };
  seal?: { available: boolean; reason: string };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Reads `capabilities.storage` of a host. A part is undefined when the agent reported nothing (not
 * connected yet, or older than the field); the API types capabilities as an open record, so each
 * field is checked rather than trusted.
 */
export function hostStorageAbilities(host: Pick<Host, 'capabilities'>): HostStorageAbilities {
  const storage = record(record(host.capabilities)?.storage);
  const nfs = record(storage?.nfs);
  const seal = record(storage?.seal);
  return {
    nfs:
      (nfs?.mode === 'kernel' || nfs?.mode === 'userspace') && typeof nfs.reason === 'string'
        ? { mode: nfs.mode, reason: nfs.reason }
        : undefined,
    seal:
      typeof seal?.available === 'boolean' && typeof seal.reason === 'string'
        ? { available: seal.available, reason: seal.reason }
        : undefined,
  };
}

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
