import type { StorageDomain } from '@vireo/api';
import { api } from '../../api';
import type { ObjectAction } from '../common/actions';
import { domainActionAllowed } from './domainForm';

const simple = (id: 'activate' | 'maintenance' | 'detach', confirm = false): ObjectAction<StorageDomain> => ({
  id,
  titleId: `storage.action.${id}`,
  confirm,
  isDisabled: (d) => !domainActionAllowed(id, d.state),
  run: (d) => api.action(`/storage-domains/${d.id}`, id, {}),
});

/**
 * A domain's actions. `attach` opens the data-center picker (`onAttach`); the others are one call
 * each (accepted as operations). Remove forgets an unattached, empty domain: its files stay on
 * storage (the engine has no "destroy data" choice), which the confirmation says.
 */
export function domainActions(onAttach: (d: StorageDomain) => void): ObjectAction<StorageDomain>[] {
  return [
    {
      id: 'attach',
      opensDialog: true,
      titleId: 'storage.action.attach',
      isDisabled: (d) => !domainActionAllowed('attach', d.state),
      run: async (d) => onAttach(d),
    },
    simple('activate'),
    simple('maintenance', true),
    simple('detach', true),
    {
      id: 'remove',
      titleId: 'storage.action.remove',
      danger: true,
      confirm: true,
      isDisabled: (d) => !domainActionAllowed('remove', d.state),
      run: (d) => api.delete(`/storage-domains/${d.id}`),
    },
  ];
}

/** Bulk actions on selected domains: each runs per domain; refusals come back as toasts. */
export const DOMAIN_BULK_ACTIONS: ObjectAction<StorageDomain>[] = [
  simple('activate'),
  simple('maintenance', true),
];
