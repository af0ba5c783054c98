import { Alert } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { Vm } from '@vireo/client';
import { useIntl } from 'react-intl';

/** How a NIC connects, as a person reads it: user-mode networking or the bridge's name. */
export function nicConnection(n: object): { kind: 'user' | 'bridge'; bridge?: string } {
  const o = n as { type?: unknown; bridge?: unknown };
  return typeof o.bridge === 'string' ? { kind: 'bridge', bridge: o.bridge } : { kind: 'user' };
}

/**
 * A VM's NICs: connection (user-mode or bridge), model, MAC. The engine has no API to change a
 * VM's NICs after it is created yet, so this tab only shows them (the wizard sets them).
 */
export function VmNicsTab({ vm }: { vm: Vm }) {
  const intl = useIntl();
  const t = (id: string, values?: Record<string, string>) => intl.formatMessage({ id }, values);
  return (
    <div className="vireo-tab-body">
      <Table variant="compact" aria-label={t('tab.nics')}>
        <Thead>
          <Tr>
            <Th>#</Th>
            <Th>{t('field.nicType')}</Th>
            <Th>{t('vmx.field.model')}</Th>
            <Th>{t('field.mac')}</Th>
          </Tr>
        </Thead>
        <Tbody>
          {vm.nics.map((n, i) => {
            const c = nicConnection(n);
            const o = n as { mac?: string; model?: string };
            return (
              // biome-ignore lint/suspicious/noArrayIndexKey: NICs have no id; their order is their identity
              <Tr key={i} data-testid="vm-nic-row">
                <Td>{i + 1}</Td>
                <Td>
                  {c.kind === 'bridge' ? t('vmx.nic.onBridge', { bridge: c.bridge ?? '' }) : t('nic.user')}
                </Td>
                <Td>{o.model ?? 'virtio'}</Td>
                <Td className="vireo-mono">{o.mac ?? '—'}</Td>
              </Tr>
            );
          })}
        </Tbody>
      </Table>
      <Alert isInline isPlain variant="info" title={t('vmx.nic.fixed')} />
    </div>
  );
}
