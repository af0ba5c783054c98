// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import type { Operation } from '@vireo/client';
import type { ReactNode } from 'react';
import { IntlProvider } from 'react-intl';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listKey, objectKey } from '../../api';
import { applyProgress, applyProgressToCache } from '../../api/progress';
import { OperationProgress } from './OperationProgress';
import { frame, OPERATION_ID, operation, TARGET_ID as VM } from './testing';

const OP = OPERATION_ID;

function seeded(...ops: Operation[]) {
  const queries = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  for (const op of ops) queries.setQueryData(objectKey('operations', op.id), op);
  return queries;
}

function wrap(queries: QueryClient, node: ReactNode) {
  return (
    <QueryClientProvider client={queries}>
      <IntlProvider locale="en" messages={{}} onError={() => {}}>
        {node}
      </IntlProvider>
    </QueryClientProvider>
  );
}

describe('applyProgress', () => {
  it('moves a running operation and starts a pending one', () => {
    expect(applyProgress(operation(), frame())).toMatchObject({ progress: 0.4, progress_message: 'booting' });
    expect(applyProgress(operation({ state: 'pending' }), frame()).state).toBe('running');
  });

  it('leaves finished operations, other operations and no-op frames untouched (same object)', () => {
    const done = operation({ state: 'succeeded', progress: 1 });
    expect(applyProgress(done, frame())).toBe(done);
    const other = operation({ id: VM });
    expect(applyProgress(other, frame())).toBe(other);
    const same = operation({ progress: 0.4, progress_message: 'booting' });
    expect(applyProgress(same, frame())).toBe(same);
  });

  it('clamps the fraction and keeps the last message when a frame has none', () => {
    const op = applyProgress(
      operation({ progress_message: 'copying' }),
      frame({ progress: 7, message: null }),
    );
    expect(op).toMatchObject({ progress: 1, progress_message: 'copying' });
  });
});

describe('applyProgressToCache', () => {
  it('updates the operation and every cached list page holding it, not other pages', () => {
    const queries = seeded(operation());
    const withIt = { items: [operation(), operation({ id: VM })], next_cursor: null };
    const without = { items: [operation({ id: VM })], next_cursor: null };
    queries.setQueryData(listKey('operations', { limit: 8 }), withIt);
    queries.setQueryData(listKey('operations', { state: 'failed' }), without);
    applyProgressToCache(queries, frame({ progress: 0.25 }));
    expect(queries.getQueryData<Operation>(objectKey('operations', OP))?.progress).toBe(0.25);
    const page = queries.getQueryData<{ items: Operation[] }>(listKey('operations', { limit: 8 }));
    expect(page?.items.map((o) => o.progress)).toEqual([0.25, 0]);
    expect(queries.getQueryData(listKey('operations', { state: 'failed' }))).toBe(without);
  });
});

describe('<OperationProgress>', () => {
  afterEach(() => cleanup());

  it('shows the cached operation and moves with frames, then reports its outcome once', async () => {
    const queries = seeded(operation());
    const settled = vi.fn();
    render(wrap(queries, <OperationProgress operationId={OP} onSettled={settled} />));
    const bar = await screen.findByTestId('operation-progress');
    expect(bar.getAttribute('data-progress')).toBe('0');
    await act(async () => applyProgressToCache(queries, frame({ progress: 0.4 })));
    await waitFor(() => expect(bar.getAttribute('data-progress')).toBe('40'));
    expect(screen.getByText('booting')).toBeTruthy();
    expect(settled).not.toHaveBeenCalled();

    await act(async () => {
      queries.setQueryData(objectKey('operations', OP), operation({ state: 'succeeded', progress: 0.4 }));
    });
    await waitFor(() => expect(bar.getAttribute('data-state')).toBe('succeeded'));
    expect(bar.getAttribute('data-progress')).toBe('100');
    await act(async () => applyProgressToCache(queries, frame({ progress: 0.5 })));
    await waitFor(() => expect(settled).toHaveBeenCalled());
    expect(settled).toHaveBeenCalledTimes(1);
    expect(settled.mock.calls[0]?.[0]).toMatchObject({ state: 'succeeded' });
  });

  it('inline: one line with the detail and percentage; hideWhenDone hides success, not failure', async () => {
    const queries = seeded(operation({ progress: 0.4, progress_message: 'Starting…' }));
    const { container } = render(wrap(queries, <OperationProgress operationId={OP} inline hideWhenDone />));
    expect(await screen.findByText('Starting… 40 %')).toBeTruthy();
    await act(async () => {
      queries.setQueryData(
        objectKey('operations', OP),
        operation({ state: 'failed', progress: 0.4, error: { code: 'x', message: 'no host' } }),
      );
    });
    expect(await screen.findByText('no host 40 %')).toBeTruthy();
    await act(async () => {
      queries.setQueryData(objectKey('operations', OP), operation({ state: 'succeeded' }));
    });
    await waitFor(() => expect(container.querySelector('[data-testid="operation-progress"]')).toBeNull());
  });
});
