import { Alert, DescriptionList } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { Template } from '@vireo/api';
import { FormattedMessage, useIntl } from 'react-intl';
import { useNavigate } from 'react-router';
import { DetailPage } from '../common/DetailPage';
import { MemorySize, When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { StateLabel } from '../common/StateLabel';
import { OperationProgressFor } from '../operations';
import { DiskLayoutCells, DiskLayoutHeads } from '../vms/diskColumns';
import { Field } from '../vms/VmDetailPage';
import { useTemplateDelete } from './deleteTemplate';
import { TemplateButtons } from './TemplateButtons';

function TemplateActions({ t }: { t: Template }) {
  const navigate = useNavigate();
  const del = useTemplateDelete(() => navigate('/templates', { replace: true }));
  return (
    <>
      <TemplateButtons t={t} onDelete={del.request} ids />
      {del.view}
    </>
  );
}

function General({ t }: { t: Template }) {
  const intl = useIntl();
  const clusters = useNames('clusters');
  return (
    <>
      <Field id="field.name">{t.name}</Field>
      <Field id="field.description">{t.description || '—'}</Field>
      <Field id="field.state">
        <StateLabel state={t.state} />
      </Field>
      <Field id="field.cluster">
        <RefLink names={clusters} path="clusters" id={t.cluster_id} />
      </Field>
      <Field id="field.cpus">{intl.formatNumber(t.cpus)}</Field>
      <Field id="field.memory">
        <MemorySize mib={t.memory_mib} />
      </Field>
      <Field id="field.osType">{t.os_type}</Field>
      <Field id="field.bootOrder">{t.boot_order.join(' → ')}</Field>
      <Field id="tab.nics">{intl.formatNumber(t.nics.length)}</Field>
      <Field id="field.id">
        <span className="vireo-mono">{t.id}</span>
      </Field>
      <Field id="field.created">
        <When value={t.created_at} />
      </Field>
    </>
  );
}

function Disks({ t }: { t: Template }) {
  const intl = useIntl();
  const domains = useNames('storage-domains');
  return (
    <Table variant="compact" aria-label={intl.formatMessage({ id: 'tab.disks' })} className="vireo-tab-body">
      <Thead>
        <Tr>
          <Th>#</Th>
          <DiskLayoutHeads />
        </Tr>
      </Thead>
      <Tbody>
        {t.disks.map((d) => (
          <Tr key={d.disk_id}>
            <Td>{d.position + 1}</Td>
            <DiskLayoutCells disk={d} domains={domains} />
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}

/** VMs tied to the template: the VM it was made from; thin clones are named when a delete is refused. */
function Vms({ t }: { t: Template }) {
  const vms = useNames('vms');
  return (
    <div className="vireo-tab-body">
      <DescriptionList isHorizontal>
        <Field id="template.sourceVm">
          <RefLink names={vms} path="vms" id={t.created_from_vm_id} />
        </Field>
      </DescriptionList>
      <Alert isInline isPlain variant="info" title={<FormattedMessage id="template.clonesHint" />} />
    </div>
  );
}

/** A template: general, disks, VMs; "New VM" (thin or full clone in the wizard) and delete. */
export function TemplateDetailPage() {
  return (
    <DetailPage<Template>
      collection="templates"
      badge={(t) => (
        <>
          <StateLabel state={t.state} /> <OperationProgressFor targetId={t.id} />
        </>
      )}
      actions={(t) => <TemplateActions t={t} />}
      general={(t) => <General t={t} />}
      tabs={[
        { key: 'disks', titleId: 'tab.disks', render: (t) => <Disks t={t} /> },
        { key: 'vms', titleId: 'nav.vms', render: (t) => <Vms t={t} /> },
      ]}
    />
  );
}
