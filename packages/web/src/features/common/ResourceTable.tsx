import {
  EmptyState,
  EmptyStateBody,
  FormSelect,
  FormSelectOption,
  MenuToggle,
  SearchInput,
  Select,
  SelectList,
  SelectOption,
  Spinner,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
} from '@patternfly/react-core';
import { ActionsColumn, type ISortBy, Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { ListQuery } from '@vireo/client';
import { type ReactNode, useEffect, useMemo, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { PageButtons } from './PageButtons';
import { type Collection, useLiveList } from '../../api';
import { type ObjectAction, useActionRunner } from './actions';

export interface Column<T> {
  id: string;
  titleId: string;
  /** The API's sort field when the column can be sorted by the engine. */
  sort?: string;
  render(item: T): ReactNode;
}

export interface Filter<T> {
  id: string;
  titleId: string;
  options: { value: string; label: ReactNode }[];
  /** Filters the engine applies (`?cluster_id=`); else `match` filters the page shown. */
  toQuery?(value: string): ListQuery;
  match?(item: T, value: string): boolean;
}

export interface ResourceTableProps<T extends { id: string; name?: string }> {
  collection: Collection;
  /** e.g. 'vms' for test ids and labels. */
  columns: Column<T>[];
  filters?: Filter<T>[];
  rowActions?: ObjectAction<T>[];
  bulkActions?: ObjectAction<T>[];
  toolbar?: ReactNode;
  query?: ListQuery;
  emptyId?: string;
  ariaLabelId: string;
}

const PAGE_SIZES = [10, 20, 50, 100];

/**
 * A live list: search (the engine's `?search=`), sort by column (`?sort=`), filters, cursor
 * pagination, row actions (kebab) and bulk actions on the selected rows. The page refreshes from
 * the event stream; selection survives refreshes by id.
 */
export function ResourceTable<T extends { id: string; name?: string }>(props: ResourceTableProps<T>) {
  const intl = useIntl();
  const { columns, filters = [], rowActions = [], bulkActions = [] } = props;
  const [search, setSearch] = useState('');
  const [appliedSearch, setAppliedSearch] = useState('');
  const [sort, setSort] = useState<{ index: number; dir: 'asc' | 'desc' }>({ index: 0, dir: 'asc' });
  const [limit, setLimit] = useState(20);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [filterValues, setFilterValues] = useState<Record<string, string>>({});
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkOpen, setBulkOpen] = useState(false);
  const runner = useActionRunner<T>();

  // Typing searches after a pause, not on every key.
  useEffect(() => {
    const t = setTimeout(() => setAppliedSearch(search.trim()), 300);
    return () => clearTimeout(t);
  }, [search]);

  const sortColumn = columns[sort.index];
  const query = useMemo<ListQuery>(() => {
    const q: ListQuery = { ...props.query, limit };
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.cursor = cursor;
    if (appliedSearch) q.search = appliedSearch;
    if (sortColumn?.sort) q.sort = sort.dir === 'desc' ? `-${sortColumn.sort}` : sortColumn.sort;
    for (const f of filters) {
      const v = filterValues[f.id];
      if (v && f.toQuery) Object.assign(q, f.toQuery(v));
    }
    return q;
  }, [props.query, limit, cursors, appliedSearch, sortColumn, sort.dir, filters, filterValues]);

  // A new search, sort or filter starts again from the first page.
  // biome-ignore lint/correctness/useExhaustiveDependencies: resetting on these inputs is the point
  useEffect(() => setCursors([undefined]), [appliedSearch, sort, limit, filterValues]);

  const list = useLiveList<T>(props.collection, query);
  const items = (list.data?.items ?? []).filter((item) =>
    filters.every((f) => {
      const v = filterValues[f.id];
      return !v || !f.match || f.match(item, v);
    }),
  );
  const selectedItems = items.filter((i) => selected.has(i.id));
  const nextCursor = list.data?.next_cursor ?? undefined;

  const sortBy = (
    index: number,
  ): {
    sortBy: ISortBy;
    onSort: (_e: unknown, i: number, d: 'asc' | 'desc') => void;
    columnIndex: number;
  } => ({
    sortBy: { index: sort.index + 1, direction: sort.dir },
    onSort: (_e, i, d) => setSort({ index: i - 1, dir: d }),
    columnIndex: index + 1,
  });

  return (
    <>
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
          {filters.map((f) => (
            <ToolbarItem key={f.id}>
              <FormSelect
                aria-label={intl.formatMessage({ id: f.titleId })}
                value={filterValues[f.id] ?? ''}
                onChange={(_e, v) => setFilterValues((fv) => ({ ...fv, [f.id]: v }))}
                id={`filter-${f.id}`}
              >
                <FormSelectOption
                  value=""
                  label={`${intl.formatMessage({ id: f.titleId })}: ${intl.formatMessage({ id: 'list.any' })}`}
                />
                {f.options.map((o) => (
                  <FormSelectOption key={o.value} value={o.value} label={String(o.label)} />
                ))}
              </FormSelect>
            </ToolbarItem>
          ))}
          {bulkActions.length > 0 && (
            <ToolbarItem>
              <Select
                isOpen={bulkOpen}
                onOpenChange={setBulkOpen}
                onSelect={(_e, value) => {
                  setBulkOpen(false);
                  const action = bulkActions.find((a) => a.id === value);
                  if (action) runner.request(action, selectedItems, () => setSelected(new Set()));
                }}
                toggle={(ref) => (
                  <MenuToggle
                    ref={ref}
                    id="bulk-actions"
                    isDisabled={selectedItems.length === 0}
                    onClick={() => setBulkOpen(!bulkOpen)}
                  >
                    <FormattedMessage id="list.bulkActions" values={{ count: selectedItems.length }} />
                  </MenuToggle>
                )}
              >
                <SelectList>
                  {bulkActions.map((a) => (
                    <SelectOption key={a.id} value={a.id} id={`bulk-${a.id}`}>
                      <FormattedMessage id={a.titleId} />
                    </SelectOption>
                  ))}
                </SelectList>
              </Select>
            </ToolbarItem>
          )}
          {props.toolbar && <ToolbarItem>{props.toolbar}</ToolbarItem>}
          <ToolbarGroup align={{ default: 'alignEnd' }}>
            <ToolbarItem>
              <FormSelect
                aria-label={intl.formatMessage({ id: 'list.perPage' })}
                value={String(limit)}
                onChange={(_e, v) => setLimit(Number(v))}
              >
                {PAGE_SIZES.map((n) => (
                  <FormSelectOption
                    key={n}
                    value={String(n)}
                    label={intl.formatMessage({ id: 'list.perPageN' }, { n })}
                  />
                ))}
              </FormSelect>
            </ToolbarItem>
            <ToolbarItem>
              <PageButtons
                cursors={cursors}
                setCursors={setCursors}
                next={nextCursor}
                backId="list.previous"
                forwardId="list.next"
              />
            </ToolbarItem>
          </ToolbarGroup>
        </ToolbarContent>
      </Toolbar>
      <Table
        aria-label={intl.formatMessage({ id: props.ariaLabelId })}
        variant="compact"
        data-testid={`${props.collection}-table`}
      >
        <Thead>
          <Tr>
            <Th
              screenReaderText={intl.formatMessage({ id: 'list.select' })}
              select={
                bulkActions.length > 0
                  ? {
                      onSelect: (_e, isSelecting) =>
                        setSelected(isSelecting ? new Set(items.map((i) => i.id)) : new Set()),
                      isSelected: items.length > 0 && selectedItems.length === items.length,
                    }
                  : undefined
              }
            />
            {columns.map((c, i) => (
              <Th key={c.id} sort={c.sort ? sortBy(i) : undefined}>
                <FormattedMessage id={c.titleId} />
              </Th>
            ))}
            {rowActions.length > 0 && <Th screenReaderText={intl.formatMessage({ id: 'list.actions' })} />}
          </Tr>
        </Thead>
        <Tbody>
          {items.map((item, rowIndex) => (
            <Tr key={item.id} data-testid="row" data-name={item.name}>
              <Td
                select={
                  bulkActions.length > 0
                    ? {
                        rowIndex,
                        onSelect: (_e, isSelecting) =>
                          setSelected((s) => {
                            const n = new Set(s);
                            if (isSelecting) n.add(item.id);
                            else n.delete(item.id);
                            return n;
                          }),
                        isSelected: selected.has(item.id),
                      }
                    : undefined
                }
              />
              {columns.map((c) => (
                <Td key={c.id} dataLabel={intl.formatMessage({ id: c.titleId })}>
                  {c.render(item)}
                </Td>
              ))}
              {rowActions.length > 0 && (
                <Td isActionCell>
                  <ActionsColumn
                    items={rowActions.map((a) => ({
                      title: intl.formatMessage({ id: a.titleId }),
                      isDanger: a.danger,
                      isDisabled: a.isDisabled?.(item) ?? false,
                      onClick: () => runner.request(a, [item]),
                    }))}
                  />
                </Td>
              )}
            </Tr>
          ))}
        </Tbody>
      </Table>
      {list.isPending && <Spinner size="lg" aria-label="loading" />}
      {list.isError && (
        <EmptyState titleText={<FormattedMessage id="list.error" />} headingLevel="h2" status="danger">
          <EmptyStateBody>{list.error.message}</EmptyStateBody>
        </EmptyState>
      )}
      {list.isSuccess && items.length === 0 && (
        <EmptyState titleText={<FormattedMessage id={props.emptyId ?? 'list.empty'} />} headingLevel="h2">
          <EmptyStateBody>
            <FormattedMessage id="list.emptyHint" />
          </EmptyStateBody>
        </EmptyState>
      )}
      {runner.modal}
    </>
  );
}
