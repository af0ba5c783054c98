import { FormattedMessage, useIntl } from 'react-intl';
import type { StorageDomain } from '@vireo/api';
import { api } from '../../api';
import { FormModal } from '../common/FormModal';
import { useOptions } from '../common/lookups';
import { useNotify } from '../common/notify';

/** Attaches an unattached domain to a data center (an operation; the domain then is in maintenance). */
export function AttachDomainDialog({ domain, onClose }: { domain: StorageDomain; onClose(): void }) {
  const dcs = useOptions('datacenters');
  const intl = useIntl();
  const notify = useNotify();
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
      onSubmit={async (v) => {
        await api.action(`/storage-domains/${domain.id}`, 'attach', { datacenter_id: v.datacenter_id });
        notify({
          variant: 'success',
          title: intl.formatMessage(
            { id: 'action.accepted' },
            { action: intl.formatMessage({ id: 'storage.action.attach' }), names: domain.name },
          ),
        });
      }}
    >
      <p>
        <FormattedMessage id="storage.attachHint" values={{ name: domain.name }} />
      </p>
    </FormModal>
  );
}
