import { Button, PageSection, Title } from '@patternfly/react-core';
import { STORAGE_DOMAIN_KINDS, STORAGE_DOMAIN_STATES, type StorageDomain } from '@vireo/api';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link } from 'react-router';
import { When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { ResourceTable } from '../common/ResourceTable';
import { StateLabel } from '../common/StateLabel';
import { AttachDomainDialog } from './AttachDomainDialog';
import { Capacity } from './Capacity';
import { DOMAIN_BULK_ACTIONS, domainActions } from './domainActions';
import { StorageDomainForm } from './StorageDomainForm';

/** Storage domains: search, filters (kind, state on the engine), create, import, row and bulk actions. */
export function StorageDomainsPage() {
  const intl = useIntl();
  const dcs = useNames('datacenters');
  const [form, setForm] = useState<'create' | 'import' | null>(null);
  const [attach, setAttach] = useState<StorageDomain | null>(null);
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.storageDomains" />
      </Title>
      <ResourceTable<StorageDomain>
        collection="storage-domains"
        ariaLabelId="nav.storageDomains"
        rowActions={domainActions(setAttach)}
        bulkActions={DOMAIN_BULK_ACTIONS}
        filters={[
          {
            id: 'kind',
            titleId: 'field.kind',
            options: STORAGE_DOMAIN_KINDS.map((k) => ({
              value: k,
              label: intl.formatMessage({ id: `storage.kind.${k}` }),
            })),
            toQuery: (kind) => ({ kind }),
          },
          {
            id: 'state',
            titleId: 'field.state',
            options: STORAGE_DOMAIN_STATES.map((s) => ({
              value: s,
              label: intl.formatMessage({ id: `state.${s}`, defaultMessage: s }),
            })),
            toQuery: (state) => ({ state }),
          },
        ]}
        toolbar={
          <>
            <Button id="create-storage-domain" onClick={() => setForm('create')}>
              <FormattedMessage id="storage.domain.create" />
            </Button>{' '}
            <Button id="import-storage-domain" variant="secondary" onClick={() => setForm('import')}>
              <FormattedMessage id="storage.domain.import" />
            </Button>
          </>
        }
        columns={[
          {
            id: 'name',
            titleId: 'field.name',
            sort: 'name',
            render: (d) => <Link to={`/storage/domains/${d.id}`}>{d.name}</Link>,
          },
          { id: 'state', titleId: 'field.state', render: (d) => <StateLabel state={d.state} /> },
          {
            id: 'kind',
            titleId: 'field.kind',
            render: (d) => <FormattedMessage id={`storage.kind.${d.kind}`} />,
          },
          {
            id: 'backend',
            titleId: 'field.backend',
            render: (d) => <FormattedMessage id={`storage.backend.${d.backend}`} />,
          },
          {
            id: 'dc',
            titleId: 'field.datacenter',
            render: (d) => <RefLink names={dcs} path="datacenters" id={d.datacenter_id} />,
          },
          {
            id: 'usage',
            titleId: 'storage.used',
            render: (d) => <Capacity total={d.total_bytes} free={d.free_bytes} />,
          },
          {
            id: 'created',
            titleId: 'field.created',
            sort: 'created_at',
            render: (d) => <When value={d.created_at} />,
          },
        ]}
      />
      {form && <StorageDomainForm mode={form} onClose={() => setForm(null)} />}
      {attach && <AttachDomainDialog domain={attach} onClose={() => setAttach(null)} />}
    </PageSection>
  );
}
