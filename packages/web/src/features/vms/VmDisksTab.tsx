import { Button, Toolbar, ToolbarContent, ToolbarItem } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { Disk } from '@vireo/api';
import type { Vm } from '@vireo/client';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api, useLiveList } from '../../api';
import { ConfirmModal } from '../common/ConfirmModal';
import { useNames } from '../common/lookups';
import { DiskAttachDialog, DiskCreateDialog, DiskExtendDialog } from '../storage';
import { DiskLayoutCells, DiskLayoutHeads } from './diskColumns';
import { OperationState, useOperationCall } from './operationCall';

type VmDisk = Vm['disks'][number];
type Dialog = 'new' | 'existing' | { extend: Disk } | { detach: VmDisk } | null;

/**
 * A VM's disks: attach a new or an existing (floating) disk, detach, extend — with the disk dialogs
 * of the storage pages. While the VM runs the engine hot-plugs (202 + operation), hot-unplugs and
 * extends online; the dialogs and this tab show those operations.
 */
export function VmDisksTab({ vm }: { vm: Vm }) {
  const intl = useIntl();
  const domains = useNames('storage-domains');
  const call = useOperationCall();
  const [dialog, setDialog] = useState<Dialog>(null);
  // The full disks (ETag-able, with state) for the dialogs; the VM's own list has the attachment.
  const attached = useLiveList<Disk>('disks', { vm_id: vm.id, limit: 200 });
  const floating = useLiveList<Disk>('disks', { limit: 200, sort: 'name' });
  const byId = new Map((attached.data?.items ?? []).map((d) => [d.id, d]));
  const floatingOptions = (floating.data?.items ?? [])
    .filter((d) => d.vm_ids.length === 0 && d.state === 'ok')
    .map((d) => ({ value: d.id, label: `${d.name} (${d.size_gib} GiB)` }));
  const attachments = `/vms/${encodeURIComponent(vm.id)}/disk-attachments`;
  const th = (id: string) => <Th>{intl.formatMessage({ id })}</Th>;

  return (
    <div className="vireo-tab-body" data-testid="disks-tab">
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button id="disk-attach-new" onClick={() => setDialog('new')}>
              <FormattedMessage id="vmx.disk.attachNew" />
            </Button>
          </ToolbarItem>
          <ToolbarItem>
            <Button
              id="disk-attach-existing"
              variant="secondary"
              isDisabled={floatingOptions.length === 0}
              onClick={() => setDialog('existing')}
            >
              <FormattedMessage id="vmx.disk.attachExisting" />
            </Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {call.operationId && <OperationState operationId={call.operationId} />}
      <Table variant="compact" aria-label={intl.formatMessage({ id: 'tab.disks' })}>
        <Thead>
          <Tr>
            {th('field.name')}
            <DiskLayoutHeads />
            {th('field.state')}
            <Th screenReaderText={intl.formatMessage({ id: 'list.actions' })} />
          </Tr>
        </Thead>
        <Tbody>
          {vm.disks.map((d) => {
            const full = byId.get(d.id);
            return (
              <Tr key={d.id} data-testid="vm-disk-row" data-name={d.name}>
                <Td>{d.name}</Td>
                <DiskLayoutCells disk={d} domains={domains} />
                <Td>
                  {full ? <FormattedMessage id={`state.${full.state}`} defaultMessage={full.state} /> : '…'}
                </Td>
                <Td>
                  <div className="vireo-actions">
                    <Button
                      size="sm"
                      variant="secondary"
                      data-action="extend"
                      isDisabled={full?.state !== 'ok'}
                      onClick={() => full && setDialog({ extend: full })}
                    >
                      <FormattedMessage id="vmx.disk.extend" />
                    </Button>
                    <Button
                      size="sm"
                      variant="danger"
                      data-action="detach"
                      onClick={() => setDialog({ detach: d })}
                    >
                      <FormattedMessage id="vmx.disk.detach" />
                    </Button>
                  </div>
                </Td>
              </Tr>
            );
          })}
        </Tbody>
      </Table>
      {dialog === 'new' && <DiskCreateDialog vmId={vm.id} onClose={() => setDialog(null)} />}
      {dialog === 'existing' && (
        <DiskAttachDialog vmId={vm.id} disks={floatingOptions} onClose={() => setDialog(null)} />
      )}
      {dialog && typeof dialog === 'object' && 'extend' in dialog && (
        <DiskExtendDialog disk={dialog.extend} onClose={() => setDialog(null)} />
      )}
      {dialog && typeof dialog === 'object' && 'detach' in dialog && (
        <ConfirmModal
          isOpen
          danger
          title={intl.formatMessage({ id: 'vmx.disk.detach' })}
          body={intl.formatMessage(
            { id: 'vmx.disk.detachBody' },
            { name: dialog.detach.name, running: vm.state === 'down' ? 'no' : 'yes' },
          )}
          confirmLabel={intl.formatMessage({ id: 'vmx.disk.detach' })}
          onCancel={() => setDialog(null)}
          onConfirm={() => {
            const d = dialog.detach;
            setDialog(null);
            void call.run('vmx.disk.detach', () => api.delete(`${attachments}/${encodeURIComponent(d.id)}`));
          }}
        />
      )}
    </div>
  );
}
