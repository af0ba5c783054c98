import {
  FormSelect,
  FormSelectOption,
  Label,
  SearchInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { EVENT_SEVERITIES } from '@vireo/api';
import type { ListQuery, VireoEvent } from '@vireo/client';
import { useEffect, useMemo, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { PageButtons } from '../common/PageButtons';
import { useLiveList } from '../../api';
import { When } from '../common/format';

const SEVERITY_COLOR = { info: 'blue', warning: 'orange', error: 'red', audit: 'grey' } as const;

const KIND_PREFIXES = [
  'vm.',
  'host.',
  'operation.',
  'datacenter.',
  'cluster.',
  'auth.',
  'storage_domain.',
  'disk.',
];

/**
 * The audit log, newest first, live (every event invalidates the events lists): filters by
 * severity, kind and text; optionally only one object's events (detail pages' Events tab).
 */
export function EventsTable({ objectId, pageSize = 50 }: { objectId?: string; pageSize?: number }) {
  const intl = useIntl();
  const [severity, setSeverity] = useState('');
  const [kind, setKind] = useState('');
  const [search, setSearch] = useState('');
  const [applied, setApplied] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  useEffect(() => {
    const t = setTimeout(() => setApplied(search.trim()), 300);
    return () => clearTimeout(t);
  }, [search]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter starts from the newest page
  useEffect(() => setCursors([undefined]), [severity, kind, applied]);
  const query = useMemo<ListQuery>(() => {
    const q: ListQuery = { limit: pageSize };
    if (objectId) q.object_id = objectId;
    if (severity) q.severity = severity;
    if (kind) q.kind = [kind];
    if (applied) q.search = applied;
    const c = cursors[cursors.length - 1];
    if (c) q.cursor = c;
    return q;
  }, [objectId, severity, kind, applied, cursors, pageSize]);
  const list = useLiveList<VireoEvent>('events', query);
  const next = list.data?.next_cursor ?? undefined;
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput
              aria-label={intl.formatMessage({ id: 'list.search' })}
              placeholder={intl.formatMessage({ id: 'events.search' })}
              value={search}
              onChange={(_e, v) => setSearch(v)}
              onClear={() => setSearch('')}
            />
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect
              id="events-severity"
              aria-label={intl.formatMessage({ id: 'events.severity' })}
              value={severity}
              onChange={(_e, v) => setSeverity(v)}
            >
              <FormSelectOption value="" label={intl.formatMessage({ id: 'events.anySeverity' })} />
              {EVENT_SEVERITIES.map((s) => (
                <FormSelectOption key={s} value={s} label={intl.formatMessage({ id: `severity.${s}` })} />
              ))}
            </FormSelect>
          </ToolbarItem>
          {!objectId && (
            <ToolbarItem>
              <FormSelect
                id="events-kind"
                aria-label={intl.formatMessage({ id: 'events.kind' })}
                value={kind}
                onChange={(_e, v) => setKind(v)}
              >
                <FormSelectOption value="" label={intl.formatMessage({ id: 'events.anyKind' })} />
                {KIND_PREFIXES.map((k) => (
                  <FormSelectOption key={k} value={k} label={`${k}*`} />
                ))}
              </FormSelect>
            </ToolbarItem>
          )}
          <ToolbarItem align={{ default: 'alignEnd' }}>
            <PageButtons
              cursors={cursors}
              setCursors={setCursors}
              next={next}
              backId="list.newer"
              forwardId="list.older"
            />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <Table
        aria-label={intl.formatMessage({ id: 'nav.events' })}
        variant="compact"
        data-testid="events-table"
      >
        <Thead>
          <Tr>
            <Th>
              <FormattedMessage id="events.time" />
            </Th>
            <Th>
              <FormattedMessage id="events.severity" />
            </Th>
            <Th>
              <FormattedMessage id="events.kind" />
            </Th>
            <Th>
              <FormattedMessage id="events.message" />
            </Th>
            <Th>
              <FormattedMessage id="events.user" />
            </Th>
          </Tr>
        </Thead>
        <Tbody>
          {(list.data?.items ?? []).map((e) => (
            <Tr key={e.id} data-testid="event">
              <Td>
                <When value={e.time} />
              </Td>
              <Td>
                <Label isCompact color={SEVERITY_COLOR[e.severity]}>
                  <FormattedMessage id={`severity.${e.severity}`} />
                </Label>
              </Td>
              <Td className="vireo-mono">{e.kind}</Td>
              {/* Messages carry names users and guests chose: text only, never markup. */}
              <Td>{e.message}</Td>
              <Td>{e.username ?? '—'}</Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
    </>
  );
}
