import { Button, EmptyState, Spinner, Toolbar, ToolbarContent, ToolbarItem } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { IsoFileList, StorageDomain } from '@vireo/api';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { useNavigate, useParams } from 'react-router';
import { useLiveObject } from '../../api';
import { ExportsTab } from '../exports/ExportsTab';
import { UnregisteredTab, useUnregistered } from '../exports/UnregisteredTab';
import { DetailPage } from '../common/DetailPage';
import { When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { ObjectActions } from '../common/ObjectActions';
import { StateLabel } from '../common/StateLabel';
import { Field } from '../vms/VmDetailPage';
import { AttachDomainDialog } from './AttachDomainDialog';
import { Capacity } from './Capacity';
import { DisksTable } from './DisksPage';
import { domainActions } from './domainActions';
import { IsoUploadDialog } from './IsoUploadDialog';

/** The ISO images of an ISO domain, with the browser upload. */
function IsoImages({ domain }: { domain: StorageDomain }) {
  const intl = useIntl();
  const [upload, setUpload] = useState(false);
  const isos = useLiveObject<IsoFileList>('storage-domains', domain.id, 'isos');
  const mib = (n: number) => intl.formatNumber(n / 2 ** 20, { maximumFractionDigits: 1 });
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button id="upload-iso" isDisabled={domain.state !== 'active'} onClick={() => setUpload(true)}>
              <FormattedMessage id="storage.iso.upload" />
            </Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {isos.isPending && domain.state === 'active' && <Spinner size="lg" />}
      {isos.isError && (
        <EmptyState titleText={<FormattedMessage id="storage.iso.unavailable" />} headingLevel="h2">
          {isos.error.message}
        </EmptyState>
      )}
      {isos.data && (
        <Table
          aria-label={intl.formatMessage({ id: 'storage.tab.isos' })}
          variant="compact"
          data-testid="iso-table"
        >
          <Thead>
            <Tr>
              <Th>
                <FormattedMessage id="field.name" />
              </Th>
              <Th>
                <FormattedMessage id="field.size" />
              </Th>
              <Th>
                <FormattedMessage id="storage.modified" />
              </Th>
            </Tr>
          </Thead>
          <Tbody>
            {isos.data.files.map((f) => (
              <Tr key={f.name} data-testid="iso-row" data-name={f.name}>
                <Td>{f.name}</Td>
                <Td>{mib(f.size_bytes)} MiB</Td>
                <Td>
                  <When value={f.modified_at} />
                </Td>
              </Tr>
            ))}
          </Tbody>
        </Table>
      )}
      {upload && (
        <IsoUploadDialog
          domainId={domain.id}
          onClose={() => {
            setUpload(false);
            void isos.refetch();
          }}
        />
      )}
    </>
  );
}

/** A storage domain: general with its capacity, its disks (data) or ISO images (iso), events. */
export function StorageDomainDetailPage() {
  const navigate = useNavigate();
  const dcs = useNames('datacenters');
  const hosts = useNames('hosts');
  const [attach, setAttach] = useState<StorageDomain | null>(null);
  // The same cached query DetailPage reads: its kind decides which content tab the domain has.
  const { id = '' } = useParams();
  const kind = useLiveObject<StorageDomain>('storage-domains', id).data?.kind;
  const disksTab = {
    key: 'disks',
    titleId: 'tab.disks',
    render: (d: StorageDomain) => <DisksTable query={{ storage_domain_id: d.id }} storageDomainId={d.id} />,
  };
  const isosTab = {
    key: 'isos',
    titleId: 'storage.tab.isos',
    render: (d: StorageDomain) => <IsoImages domain={d} />,
  };
  // A data domain's things on storage the engine does not know (an imported domain): a tab when any.
  const unregistered = useUnregistered(kind === 'data' ? id : undefined).data;
  const unregisteredTab = {
    key: 'unregistered',
    titleId: 'exports.unregistered',
    render: (d: StorageDomain) => <UnregisteredTab domain={d} />,
  };
  const dataTabs =
    unregistered && unregistered.vms.length + unregistered.disks.length > 0
      ? [disksTab, unregisteredTab]
      : [disksTab];
  const exportsTab = {
    key: 'exports',
    titleId: 'exports.tab',
    render: (d: StorageDomain) => <ExportsTab domain={d} />,
  };
  return (
    <>
      <DetailPage<StorageDomain>
        collection="storage-domains"
        badge={(d) => <StateLabel state={d.state} />}
        actions={(d) => (
          <ObjectActions
            item={d}
            actions={domainActions(setAttach)}
            after={{ remove: () => navigate('/storage/domains', { replace: true }) }}
          />
        )}
        general={(d) => (
          <>
            <Field id="field.name">{d.name}</Field>
            <Field id="field.description">{d.description || '—'}</Field>
            <Field id="field.state">
              <StateLabel state={d.state} /> {d.state_reason}
            </Field>
            <Field id="field.kind">
              <FormattedMessage id={`storage.kind.${d.kind}`} />
            </Field>
            <Field id="field.backend">
              <FormattedMessage id={`storage.backend.${d.backend}`} />
            </Field>
            <Field id="field.datacenter">
              <RefLink names={dcs} path="datacenters" id={d.datacenter_id} />
            </Field>
            {d.host_id && (
              <Field id="field.host">
                <RefLink names={hosts} path="hosts" id={d.host_id} />
              </Field>
            )}
            <Field id="storage.field.location">
              <span className="vireo-mono">
                {d.backend === 'nfs' ? `${d.nfs_server ?? ''}:${d.nfs_export ?? ''}` : `${d.path}/${d.id}`}
              </span>
            </Field>
            <Field id="storage.capacity">
              <Capacity total={d.total_bytes} free={d.free_bytes} size="md" />
            </Field>
            <Field id="storage.capacityChecked">
              <When value={d.capacity_checked_at} />
            </Field>
            <Field id="field.id">
              <span className="vireo-mono">{d.id}</span>
            </Field>
            <Field id="field.created">
              <When value={d.created_at} />
            </Field>
          </>
        )}
        tabs={kind === 'iso' ? [isosTab] : kind === 'data' ? dataTabs : kind === 'export' ? [exportsTab] : []}
      />
      {attach && <AttachDomainDialog domain={attach} onClose={() => setAttach(null)} />}
    </>
  );
}
