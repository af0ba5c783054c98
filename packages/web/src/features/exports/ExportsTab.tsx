import {
  Button,
  EmptyState,
  Label,
  List,
  ListItem,
  Spinner,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { ExpandableRowContent, Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { ExportEntry, ExportList, StorageDomain } from '@vireo/api';
import { Fragment, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { useLiveObject } from '../../api';
import { When } from '../common/format';
import { ImportDialog } from './ImportDialog';

const COLUMNS = [
  'field.name',
  'exports.kind',
  'exports.origin',
  'exports.format',
  'exports.disks',
  'field.size',
  'exports.date',
];

/**
 * What an export domain holds (`GET /storage-domains/{id}/exports`, read from the storage): one row
 * per VM or template, foreign OVAs labelled, their warnings in an expandable row, and Import….
 */
export function ExportsTab({ domain }: { domain: StorageDomain }) {
  const intl = useIntl();
  const list = useLiveObject<ExportList>('storage-domains', domain.id, 'exports');
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [importing, setImporting] = useState<ExportEntry | null>(null);
  const gib = (n: number) => intl.formatNumber(n / 2 ** 30, { maximumFractionDigits: 2 });
  const toggle = (key: string) =>
    setOpen((s) => {
      const next = new Set(s);
      if (!next.delete(key)) next.add(key);
      return next;
    });
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button id="exports-refresh" variant="secondary" onClick={() => void list.refetch()}>
              <FormattedMessage id="exports.refresh" />
            </Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {list.isPending && domain.state === 'active' && <Spinner size="lg" />}
      {list.isError && (
        <EmptyState titleText={<FormattedMessage id="exports.unavailable" />} headingLevel="h2">
          {list.error.message}
        </EmptyState>
      )}
      {list.data && list.data.items.length === 0 && (
        <EmptyState titleText={<FormattedMessage id="exports.empty" />} headingLevel="h2" />
      )}
      {list.data && list.data.items.length > 0 && (
        <Table
          aria-label={intl.formatMessage({ id: 'exports.tab' })}
          variant="compact"
          data-testid="exports-table"
        >
          <Thead>
            <Tr>
              <Th screenReaderText={intl.formatMessage({ id: 'exports.warnings' })} />
              {COLUMNS.map((c) => (
                <Th key={c}>
                  <FormattedMessage id={c} />
                </Th>
              ))}
              <Th screenReaderText={intl.formatMessage({ id: 'exports.import' })} />
            </Tr>
          </Thead>
          {list.data.items.map((e, i) => {
            const key = `${e.id}-${e.format}`;
            const expanded = open.has(key);
            return (
              <Tbody key={key} isExpanded={expanded}>
                <Tr data-testid="export-row" data-name={e.name} data-origin={e.origin}>
                  <Td
                    expand={
                      e.warnings.length > 0
                        ? { rowIndex: i, isExpanded: expanded, onToggle: () => toggle(key) }
                        : undefined
                    }
                  />
                  <Td>{e.name}</Td>
                  <Td>
                    <FormattedMessage id={`exports.kind.${e.kind}`} />
                  </Td>
                  <Td>
                    {e.origin === 'foreign' ? (
                      <Label color="orange" data-testid="export-foreign">
                        <FormattedMessage id="exports.origin.foreign" />
                      </Label>
                    ) : (
                      <FormattedMessage id="exports.origin.vireo" />
                    )}
                    {e.warnings.length > 0 && (
                      <>
                        {' '}
                        <Label color="yellow" isCompact>
                          <FormattedMessage id="exports.warningCount" values={{ count: e.warnings.length }} />
                        </Label>
                      </>
                    )}
                  </Td>
                  <Td>{e.format.toUpperCase()}</Td>
                  <Td>{e.disks.length}</Td>
                  <Td>{gib(e.disks.reduce((n, d) => n + d.size_bytes, 0))} GiB</Td>
                  <Td>
                    <When value={e.exported_at ?? e.created_at} />
                  </Td>
                  <Td isActionCell>
                    <Button
                      variant="secondary"
                      size="sm"
                      data-testid="export-import"
                      isDisabled={domain.state !== 'active'}
                      onClick={() => setImporting(e)}
                    >
                      <FormattedMessage id="exports.importEllipsis" />
                    </Button>
                  </Td>
                </Tr>
                {e.warnings.length > 0 && (
                  <Tr isExpanded={expanded}>
                    <Td colSpan={COLUMNS.length + 2}>
                      <ExpandableRowContent>
                        <List data-testid="export-warnings">
                          {e.warnings.map((w) => (
                            <ListItem key={w}>{w}</ListItem>
                          ))}
                        </List>
                      </ExpandableRowContent>
                    </Td>
                  </Tr>
                )}
              </Tbody>
            );
          })}
        </Table>
      )}
      {list.data && list.data.invalid.length > 0 && (
        <List data-testid="exports-invalid">
          {list.data.invalid.map((x) => (
            <Fragment key={x.path}>
              <ListItem>
                <span className="vireo-mono">{x.path}</span>: {x.reason}
              </ListItem>
            </Fragment>
          ))}
        </List>
      )}
      {importing && (
        <ImportDialog
          domainId={domain.id}
          entry={importing}
          onClose={() => {
            setImporting(null);
            void list.refetch();
          }}
        />
      )}
    </>
  );
}
