import { Button, PageSection, Title } from '@patternfly/react-core';
import { COMPATIBILITY_VERSIONS, STORAGE_FORMATS } from '@vireo/api';
import type { DataCenter } from '@vireo/client';
import { useState } from 'react';
import { FormattedMessage } from 'react-intl';
import { Link } from 'react-router';
import { api } from '../../api';
import type { ObjectAction } from '../common/actions';
import { When } from '../common/format';
import { changedFields, type FormField, FormModal, type FormValues } from '../common/FormModal';
import { ResourceTable } from '../common/ResourceTable';

const FIELDS: FormField[] = [
  { name: 'name', labelId: 'field.name', required: true },
  { name: 'description', labelId: 'field.description', type: 'textarea' },
  {
    name: 'storage_format',
    labelId: 'field.storageFormat',
    type: 'select',
    options: STORAGE_FORMATS.map((v) => ({ value: v, label: v })),
  },
  {
    name: 'compatibility_version',
    labelId: 'field.compatibilityVersion',
    type: 'select',
    options: COMPATIBILITY_VERSIONS.map((v) => ({ value: v, label: v })),
  },
];

const valuesOf = (dc?: DataCenter): FormValues => ({
  name: dc?.name ?? '',
  description: dc?.description ?? '',
  storage_format: dc?.storage_format ?? STORAGE_FORMATS[0],
  compatibility_version:
    dc?.compatibility_version ?? COMPATIBILITY_VERSIONS[COMPATIBILITY_VERSIONS.length - 1]!,
});

/** Create (no object) or edit a data center; edits send only changed fields, with If-Match. */
export function DataCenterForm({ dc, onClose }: { dc?: DataCenter; onClose(): void }) {
  const initial = valuesOf(dc);
  return (
    <FormModal
      titleId={dc ? 'datacenter.edit' : 'datacenter.create'}
      submitId={dc ? 'common.save' : 'common.create'}
      fields={FIELDS}
      initial={initial}
      onClose={onClose}
      onSubmit={async (v) => {
        if (!dc) return api.create('/datacenters', v);
        const current = await api.request<DataCenter>('GET', `/datacenters/${dc.id}`);
        return api.update(`/datacenters/${dc.id}`, changedFields(initial, v), { ifMatch: current.etag });
      }}
    />
  );
}

export function DataCentersPage() {
  const [form, setForm] = useState<{ dc?: DataCenter } | null>(null);
  const actions: ObjectAction<DataCenter>[] = [
    { id: 'edit', titleId: 'common.edit', run: async (dc) => setForm({ dc }) },
    {
      id: 'delete',
      titleId: 'common.delete',
      danger: true,
      confirm: true,
      run: (dc) => api.delete(`/datacenters/${dc.id}`),
    },
  ];
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.datacenters" />
      </Title>
      <ResourceTable<DataCenter>
        collection="datacenters"
        ariaLabelId="nav.datacenters"
        rowActions={actions}
        toolbar={
          <Button id="create-datacenter" onClick={() => setForm({})}>
            <FormattedMessage id="datacenter.create" />
          </Button>
        }
        columns={[
          {
            id: 'name',
            titleId: 'field.name',
            sort: 'name',
            render: (dc) => <Link to={`/datacenters/${dc.id}`}>{dc.name}</Link>,
          },
          // Free text: rendered as text (React escapes it), never as markup.
          {
            id: 'description',
            titleId: 'field.description',
            render: (dc) => <span data-testid="description">{dc.description}</span>,
          },
          { id: 'compat', titleId: 'field.compatibilityVersion', render: (dc) => dc.compatibility_version },
          {
            id: 'created',
            titleId: 'field.created',
            sort: 'created_at',
            render: (dc) => <When value={dc.created_at} />,
          },
        ]}
      />
      {form && <DataCenterForm dc={form.dc} onClose={() => setForm(null)} />}
    </PageSection>
  );
}
