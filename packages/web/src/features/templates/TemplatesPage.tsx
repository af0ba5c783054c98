import {
  EmptyState,
  PageSection,
  SearchInput,
  Spinner,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { Template } from '@vireo/api';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link } from 'react-router';
import { useLiveList } from '../../api';
import { MemorySize, When } from '../common/format';
import { RefLink, useNames } from '../common/lookups';
import { StateLabel } from '../common/StateLabel';
import { OperationState } from '../vms/operationCall';
import { useTemplateDelete } from './deleteTemplate';
import { TemplateButtons } from './TemplateButtons';

/**
 * Templates: name, state, hardware, disks; "New VM" opens the wizard on that template; delete
 * shows the thin clones that keep it. The engine lists all templates at once (no paging yet), so
 * the search filters the page here.
 */
export function TemplatesPage() {
  const intl = useIntl();
  const list = useLiveList<Template>('templates');
  const clusters = useNames('clusters');
  const [search, setSearch] = useState('');
  const del = useTemplateDelete();
  const items = (list.data?.items ?? []).filter((t) =>
    t.name.toLowerCase().includes(search.trim().toLowerCase()),
  );
  const th = (id: string) => <Th>{intl.formatMessage({ id })}</Th>;
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.templates" />
      </Title>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput
              aria-label={intl.formatMessage({ id: 'list.search' })}
              placeholder={intl.formatMessage({ id: 'list.searchByName' })}
              value={search}
              onChange={(_e, v) => setSearch(v)}
              onClear={() => setSearch('')}
            />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {del.view}
      {del.operationId && <OperationState operationId={del.operationId} />}
      <Table
        variant="compact"
        aria-label={intl.formatMessage({ id: 'nav.templates' })}
        data-testid="templates-table"
      >
        <Thead>
          <Tr>
            {th('field.name')}
            {th('field.state')}
            {th('field.cluster')}
            {th('field.cpus')}
            {th('field.memory')}
            {th('tab.disks')}
            {th('field.created')}
            <Th screenReaderText={intl.formatMessage({ id: 'list.actions' })} />
          </Tr>
        </Thead>
        <Tbody>
          {items.map((t) => (
            <Tr key={t.id} data-testid="row" data-name={t.name}>
              <Td>
                <Link to={`/templates/${t.id}`}>{t.name}</Link>
              </Td>
              <Td>
                <StateLabel state={t.state} />
              </Td>
              <Td>
                <RefLink names={clusters} path="clusters" id={t.cluster_id} />
              </Td>
              <Td>{intl.formatNumber(t.cpus)}</Td>
              <Td>
                <MemorySize mib={t.memory_mib} />
              </Td>
              <Td>{intl.formatNumber(t.disks.length)}</Td>
              <Td>
                <When value={t.created_at} />
              </Td>
              <Td>
                <div className="vireo-actions">
                  <TemplateButtons t={t} onDelete={del.request} newVmVariant="secondary" />
                </div>
              </Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
      {list.isPending && <Spinner size="lg" aria-label="loading" />}
      {list.isError && <EmptyState titleText={list.error.message} headingLevel="h2" status="danger" />}
      {list.isSuccess && items.length === 0 && (
        <EmptyState titleText={<FormattedMessage id="template.none" />} headingLevel="h2" />
      )}
    </PageSection>
  );
}
