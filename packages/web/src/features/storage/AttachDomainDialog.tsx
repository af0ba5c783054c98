import { FormattedMessage } from 'react-intl';
import type { StorageDomain } from '@vireo/api';
import { api } from '../../api';
import { FormModal } from '../common/FormModal';
import { useOptions } from '../common/lookups';

/** Attaches an unattached domain to a data center (an operation; the domain then is in maintenance). */
export function AttachDomainDialog({ domain, onClose }: { domain: StorageDomain; onClose(): void }) {
  const dcs = useOptions('datacenters');
  if (dcs.length === 0) return null;
  return (
    <FormModal
      titleId="storage.action.attach"
      submitId="storage.action.attach"
      fields={[
        { name: 'datacenter_id', labelId: 'field.datacenter', type: 'select', options: dcs, required: true },
      ]}
      initial={{ datacenter_id: dcs[0]!.value }}
      onClose={onClose}
      onSubmit={(v) =>
        api.action(`/storage-domains/${domain.id}`, 'attach', { datacenter_id: v.datacenter_id })
      }
    >
      <p>
        <FormattedMessage id="storage.attachHint" values={{ name: domain.name }} />
      </p>
    </FormModal>
  );
}
