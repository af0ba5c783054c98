// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { Operation } from '@vireo/client';
import type { ReactNode } from 'react';
import { IntlProvider } from 'react-intl';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it } from 'vitest';
import { listKey } from '../../api';
import { applyProgressToCache } from '../../api/progress';
import en from '../../i18n/en.json';
import enOps from '../../i18n/en.operations.json';
import zh from '../../i18n/zh-CN.json';
import zhOps from '../../i18n/zh-CN.operations.json';
import { RECENT_QUERY, RUNNING_QUERY } from './active';
import { frame, operation } from './testing';
import { OperationProgressFor, OperationsButton } from './OperationsDrawer';

const A = '0b3c54d4-29a5-4c7a-9f0e-2c8f6a1d7e01';
const B = '1c4d65e5-3ab6-4d8b-8f1f-3d9f7b2e8f02';
const C = '2d5e76f6-4bc7-4e9c-9f2f-4e0f8c3f9f03';
const DISK = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

function cache(running: Operation[], recent: Operation[]) {
  const queries = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  queries.setQueryData(listKey('operations', RUNNING_QUERY), { items: running, next_cursor: null });
  queries.setQueryData(listKey('operations', RECENT_QUERY), { items: recent, next_cursor: null });
  return queries;
}

function wrap(queries: QueryClient, node: ReactNode, locale: 'en' | 'zh-CN' = 'en') {
  const messages = locale === 'en' ? { ...en, ...enOps } : { ...zh, ...zhOps };
  return (
    <QueryClientProvider client={queries}>
      <IntlProvider locale={locale} messages={messages}>
        {node}
      </IntlProvider>
    </QueryClientProvider>
  );
}

const older = new Date(Date.now() - 60_000).toISOString();

describe('the tasks indicator and drawer', () => {
  afterEach(() => cleanup());

  it('counts unfinished operations and lists them with moving bars above the recent ones', async () => {
    const copy = operation({ id: A, type: 'disk.copy', target: { kind: 'disk', id: DISK }, progress: 0.2 });
    const pending = operation({ id: B, type: 'vm.stop', state: 'pending', created_at: older });
    const done = operation({ id: C, type: 'vm.start', state: 'succeeded', progress: 1, created_at: older });
    // The pending one is only in the recent page; the running one is in both: counted once.
    const queries = cache([copy], [copy, pending, done]);
    render(
      wrap(
        queries,
        <MemoryRouter>
          <OperationsButton />
        </MemoryRouter>,
      ),
    );
    const badge = screen.getByTestId('operations-running');
    expect(badge.textContent).toBe('2');
    expect(screen.getByRole('button', { name: '2 operations running' })).toBeTruthy();

    fireEvent.click(screen.getByRole('button', { name: '2 operations running' }));
    const list = await screen.findByTestId('operations-list');
    const rows = within(list).getAllByTestId('operation');
    expect(rows.map((r) => r.getAttribute('data-operation-id'))).toEqual([A, B, C]);
    expect(within(list).getByText('Copying disk')).toBeTruthy();
    // Disks have no page of their own: plain text; a VM target links to its page.
    expect(rows[0]!.textContent).toContain('on disk 9a8b7c6d');
    expect(within(rows[0]!).queryByRole('link')).toBeNull();
    expect(within(rows[1]!).getByRole('link').getAttribute('href')).toBe(`/vms/${pending.target!.id}`);
    expect(within(list).getByRole('heading', { name: 'Running' })).toBeTruthy();
    expect(within(list).getByRole('heading', { name: 'Recent' })).toBeTruthy();

    // A progress frame moves the bar in the drawer (both cached pages hold the operation).
    await act(async () => applyProgressToCache(queries, frame({ id: A, type: 'disk.copy', progress: 0.65 })));
    await waitFor(() =>
      expect(within(rows[0]!).getByTestId('operation-progress').getAttribute('data-progress')).toBe('65'),
    );
    expect(within(list).getByText('booting')).toBeTruthy();

    // Its final event refreshed the lists: it moves from running to recent, the badge counts 1.
    await act(async () => {
      queries.setQueryData(listKey('operations', RUNNING_QUERY), { items: [], next_cursor: null });
      queries.setQueryData(listKey('operations', RECENT_QUERY), {
        items: [{ ...copy, state: 'succeeded', progress: 1 }, pending, done],
        next_cursor: null,
      });
    });
    await waitFor(() => expect(badge.textContent).toBe('1'));
  });

  it('says so when nothing runs, in Chinese too, and shows N+ when the running page is full', async () => {
    const queries = cache([], []);
    render(wrap(queries, <OperationsButton />, 'zh-CN'));
    expect(screen.getByTestId('operations-running').textContent).toBe('0');
    fireEvent.click(screen.getByRole('button', { name: '没有正在运行的操作' }));
    expect(await screen.findByText('没有正在运行的操作。')).toBeTruthy();
    cleanup();

    const full = cache([operation({ id: A })], []);
    full.setQueryData(listKey('operations', RUNNING_QUERY), {
      items: [operation({ id: A })],
      next_cursor: 'x',
    });
    render(wrap(full, <OperationsButton />));
    expect(screen.getByTestId('operations-running').textContent).toBe('1+');
  });

  it('OperationProgressFor shows the operation acting on an object, in place, and nothing otherwise', async () => {
    const copy = operation({ id: A, type: 'disk.copy', target: { kind: 'disk', id: DISK }, progress: 0.4 });
    const queries = cache([copy], [copy]);
    const { container } = render(
      wrap(
        queries,
        <>
          <div data-testid="disk">
            <OperationProgressFor targetId={DISK.toUpperCase()} />
          </div>
          <div data-testid="other">
            <OperationProgressFor targetId={C} />
          </div>
        </>,
      ),
    );
    expect(within(screen.getByTestId('disk')).getByText('Running 40 %')).toBeTruthy();
    expect(within(screen.getByTestId('other')).queryByTestId('operation-progress')).toBeNull();
    await act(async () => applyProgressToCache(queries, frame({ id: A, progress: 0.8, message: 'copying' })));
    expect(await within(screen.getByTestId('disk')).findByText('copying 80 %')).toBeTruthy();
    await act(async () => {
      queries.setQueryData(listKey('operations', RUNNING_QUERY), { items: [], next_cursor: null });
      queries.setQueryData(listKey('operations', RECENT_QUERY), {
        items: [{ ...copy, state: 'succeeded' }],
        next_cursor: null,
      });
    });
    await waitFor(() => expect(container.querySelector('[data-testid="operation-progress"]')).toBeNull());
  });
});
