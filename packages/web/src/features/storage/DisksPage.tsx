import { Button, Label, PageSection, Title } from '@patternfly/react-core';
import type { Disk } from '@vireo/api';
import type { ListQuery } from '@vireo/client';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api } from '../../api';
import type { ObjectAction } from '../common/actions';
import { When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { ResourceTable } from '../common/ResourceTable';
import { StateLabel } from '../common/StateLabel';
import { DiskCreateDialog } from './DiskCreateDialog';
import { DiskAttachDialog, DiskExtendDialog, DiskMoveDialog } from './DiskDialogs';

type Dialog = { kind: 'create' } | { kind: 'extend' | 'move' | 'attach'; disk: Disk };

const GIB = 2 ** 30;

/**
 * A live disk list with create, extend, move/copy, attach and delete. `query` narrows it
 * (`{storage_domain_id}` on a domain's page); `storageDomainId` preselects where new disks go.
 */
export function DisksTable({ query, storageDomainId }: { query?: ListQuery; storageDomainId?: string }) {
  const intl = useIntl();
  const domains = useNames('storage-domains');
  const vms = useNames('vms');
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const busy = (d: Disk) => d.state !== 'ok';
  const actions: ObjectAction<Disk>[] = [
    {
      id: 'extend',
      opensDialog: true,
      titleId: 'storage.disk.extend',
      isDisabled: busy,
      run: async (disk) => setDialog({ kind: 'extend', disk }),
    },
    {
      id: 'move',
      opensDialog: true,
      titleId: 'storage.disk.moveCopy',
      isDisabled: busy,
      run: async (disk) => setDialog({ kind: 'move', disk }),
    },
    {
      id: 'attach',
      opensDialog: true,
      titleId: 'storage.disk.attach',
      isDisabled: busy,
      run: async (disk) => setDialog({ kind: 'attach', disk }),
    },
    {
      id: 'delete',
      titleId: 'common.delete',
      danger: true,
      confirm: true,
      isDisabled: (d) => d.state === 'locked',
      run: (d) => api.delete(`/disks/${d.id}`),
    },
  ];
  return (
    <>
      <ResourceTable<Disk>
        collection="disks"
        ariaLabelId="nav.disks"
        query={query}
        rowActions={actions}
        bulkActions={actions.filter((a) => a.id === 'delete')}
        toolbar={
          <Button id="create-disk" onClick={() => setDialog({ kind: 'create' })}>
            <FormattedMessage id="storage.disk.create" />
          </Button>
        }
        columns={[
          { id: 'name', titleId: 'field.name', sort: 'name', render: (d) => d.name },
          { id: 'state', titleId: 'field.state', render: (d) => <StateLabel state={d.state} /> },
          {
            id: 'size',
            titleId: 'field.size',
            render: (d) => (
              <span data-testid="disk-size">
                {intl.formatNumber(d.size_bytes / GIB, { maximumFractionDigits: 2 })} GiB
              </span>
            ),
          },
          {
            id: 'format',
            titleId: 'field.format',
            render: (d) => (
              <>
                {d.format} ·{' '}
                <FormattedMessage
                  id={
                    d.preallocation === 'off' ? 'storage.allocation.thin' : 'storage.allocation.preallocated'
                  }
                />
                {d.shareable && (
                  <>
                    {' '}
                    <Label isCompact>
                      <FormattedMessage id="storage.field.shareable" />
                    </Label>
                  </>
                )}
                {d.encrypted && (
                  <>
                    {' '}
                    <Label isCompact color="purple">
                      <FormattedMessage id="storage.encrypted" />
                    </Label>
                  </>
                )}
              </>
            ),
          },
          {
            id: 'domain',
            titleId: 'storage.field.domain',
            render: (d) => <RefLink names={domains} path="storage/domains" id={d.storage_domain_id} />,
          },
          {
            id: 'vms',
            titleId: 'nav.vms',
            render: (d) =>
              d.vm_ids.length === 0
                ? '—'
                : d.vm_ids.map((id, i) => (
                    <span key={id}>
                      {i > 0 && ', '}
                      <RefLink names={vms} path="vms" id={id} />
                    </span>
                  )),
          },
          { id: 'description', titleId: 'field.description', render: (d) => d.description },
          {
            id: 'created',
            titleId: 'field.created',
            sort: 'created_at',
            render: (d) => <When value={d.created_at} />,
          },
        ]}
      />
      {dialog?.kind === 'create' && (
        <DiskCreateDialog storageDomainId={storageDomainId} onClose={() => setDialog(null)} />
      )}
      {dialog?.kind === 'extend' && <DiskExtendDialog disk={dialog.disk} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'move' && <DiskMoveDialog disk={dialog.disk} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'attach' && <DiskAttachDialog disk={dialog.disk} onClose={() => setDialog(null)} />}
    </>
  );
}

export function DisksPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.disks" />
      </Title>
      <DisksTable />
    </PageSection>
  );
}
