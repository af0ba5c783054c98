import { Td, Th } from '@patternfly/react-table';
import { useIntl } from 'react-intl';
import { MemorySize } from '../common/format';

/** What a VM's and a template's disk tables both show of a disk. */
export interface DiskLayout {
  size_bytes: number;
  format: string;
  interface: string;
  bootable: boolean;
  storage_domain_id: string;
}

/** The headers of the {@link DiskLayoutCells} columns. */
export function DiskLayoutHeads() {
  const intl = useIntl();
  return (
    <>
      {['field.size', 'field.format', 'field.interface', 'field.bootable', 'vmx.field.storageDomain'].map(
        (id) => (
          <Th key={id}>{intl.formatMessage({ id })}</Th>
        ),
      )}
    </>
  );
}

/**
 * A disk's size, format, bus, bootable flag and storage domain (by name; a short id until the
 * names have loaded or when the domain is gone).
 */
export function DiskLayoutCells({ disk, domains }: { disk: DiskLayout; domains: Map<string, string> }) {
  const intl = useIntl();
  return (
    <>
      <Td>
        <MemorySize mib={disk.size_bytes / 1024 / 1024} />
      </Td>
      <Td>{disk.format}</Td>
      <Td>{disk.interface}</Td>
      <Td>{intl.formatMessage({ id: disk.bootable ? 'common.yes' : 'common.no' })}</Td>
      <Td>{domains.get(disk.storage_domain_id) ?? disk.storage_domain_id.slice(0, 8)}</Td>
    </>
  );
}
