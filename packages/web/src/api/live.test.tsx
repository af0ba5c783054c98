// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render, screen } from '@testing-library/react';
import type { EphemeralFrame, Operation, VireoEvent } from '@vireo/client';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LiveContext, useLiveList, useLiveObject } from './hooks';
import { invalidationsFor } from './keys';
import { LiveUpdates } from './live';

const VM = '6f1c2a50-5b4e-4b8e-9a53-8f0f8b2f0d11';

function event(kind: string, object_kind: string | null, object_id: string | null): VireoEvent {
  return {
    id: '1',
    time: new Date().toISOString(),
    kind,
    severity: 'info',
    message: kind,
    object_kind,
    object_id,
    object_name: null,
    user_id: null,
    username: null,
    operation_id: null,
    details: {},
  };
}

/** An event source the test pushes into, as the engine's stream would. */
function pushSource() {
  const queue: (VireoEvent | EphemeralFrame)[] = [];
  let wake: (() => void) | undefined;
  return {
    push(e: VireoEvent | EphemeralFrame) {
      queue.push(e);
      wake?.();
    },
    source: async function* (signal: AbortSignal) {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next) yield next;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
}

/** A JSON answer from the stubbed engine. */
function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
}

/** `ui` rendered under a LiveUpdates fed by a stream the test pushes into. */
function renderLive(ui: ReactNode) {
  const queries = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  const live = new LiveUpdates(queries);
  const stream = pushSource();
  live.start((signal) => stream.source(signal));
  render(
    <QueryClientProvider client={queries}>
      <LiveContext.Provider value={live}>{ui}</LiveContext.Provider>
    </QueryClientProvider>,
  );
  return { live, stream };
}

function Names({ collection }: { collection: string }) {
  const list = useLiveList<{ id: string; name: string }>(collection);
  return <p data-testid={collection}>{list.data?.items.map((i) => i.name).join(',') ?? '…'}</p>;
}

describe('invalidationsFor', () => {
  it('a VM event refreshes VM lists, that VM, the event log, and the hosts and disks lists', () => {
    expect(invalidationsFor(event('vm.updated', 'vm', VM))).toEqual([
      ['list', 'events'],
      ['list', 'vms'],
      ['object', 'vms', VM],
      ['list', 'hosts'],
      ['list', 'disks'],
    ]);
  });

  it('an operation event refreshes the operations and the object it works on', () => {
    const keys = invalidationsFor(event('operation.succeeded', 'vm', VM));
    expect(keys).toContainEqual(['list', 'operations']);
    expect(keys).toContainEqual(['object', 'operations']);
    expect(keys).toContainEqual(['object', 'vms', VM]);
    expect(keys).not.toContainEqual(['list', 'operation']);
  });

  it('names multi-word kinds by their API collection', () => {
    const keys = invalidationsFor(event('storage_domain.created', 'storage_domain', VM));
    expect(keys).toContainEqual(['list', 'storage-domains']);
    expect(keys).toContainEqual(['object', 'storage-domains', VM]);
  });

  it('a login refreshes the event log and the users list', () => {
    expect(invalidationsFor(event('auth.login', 'user', null))).toEqual([
      ['list', 'events'],
      ['list', 'users'],
    ]);
  });
});

describe('LiveUpdates', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('re-fetches a list shown on screen when an event about its kind arrives, and no other', async () => {
    let vmName = 'web1';
    const fetched: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        const path = new URL(url).pathname;
        fetched.push(path);
        const items = path.endsWith('/vms') ? [{ id: VM, name: vmName }] : [{ id: 'c', name: 'Default' }];
        return json({ items, next_cursor: null });
      }),
    );
    const { live, stream } = renderLive(
      <>
        <Names collection="vms" />
        <Names collection="clusters" />
      </>,
    );
    const heard: string[] = [];
    live.subscribe((e) => heard.push(e.kind));
    expect(await screen.findByText('web1')).toBeTruthy();
    expect(await screen.findByText('Default')).toBeTruthy();
    expect(fetched.sort()).toEqual(['/api/v1/clusters', '/api/v1/vms']);

    vmName = 'web1-renamed';
    await act(async () => stream.push(event('vm.updated', 'vm', VM)));
    expect(await screen.findByText('web1-renamed')).toBeTruthy();
    expect(fetched.filter((p) => p === '/api/v1/vms')).toHaveLength(2);
    // Clusters were not touched by a VM event: still one fetch.
    expect(fetched.filter((p) => p === '/api/v1/clusters')).toHaveLength(1);
    expect(heard).toEqual(['vm.updated']);
    expect(live.status).toBe('live');
    live.stop();
    expect(live.status).toBe('stopped');
  });
});

const OP = '0b3c54d4-29a5-4c7a-9f0e-2c8f6a1d7e01';

function OpProgress() {
  const op = useLiveObject<Operation>('operations', OP);
  return <p data-testid="op">{op.data ? `${op.data.state} ${op.data.progress}` : '…'}</p>;
}

describe('LiveUpdates and operation progress frames', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('moves a cached operation with each frame without a fetch, and refetches on its final event', async () => {
    let state = { state: 'running', progress: 0.1 };
    const fetched: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        fetched.push(new URL(url).pathname);
        return json({ id: OP, type: 'disk.copy', progress_message: null, ...state });
      }),
    );
    const { live, stream } = renderLive(<OpProgress />);
    const heard: number[] = [];
    live.subscribeProgress((f) => heard.push(f.progress));
    const events: string[] = [];
    live.subscribe((e) => events.push(e.kind));
    expect(await screen.findByText('running 0.1')).toBeTruthy();
    const frame = (progress: number): EphemeralFrame => ({
      ephemeral: true,
      kind: 'operation.progress',
      data: { id: OP, type: 'disk.copy', target_kind: 'disk', target_id: null, progress, message: 'copying' },
    });
    for (const p of [0.3, 0.6, 0.9]) {
      await act(async () => stream.push(frame(p)));
      expect(await screen.findByText(`running ${p}`)).toBeTruthy();
    }
    // Unknown frame kinds and malformed frames are ignored.
    await act(async () => stream.push({ ephemeral: true, kind: 'something.else', data: { id: OP } }));
    await act(async () => stream.push({ ephemeral: true, kind: 'operation.progress', data: { id: OP } }));
    expect(fetched).toEqual([`/api/v1/operations/${OP}`]);
    expect(heard).toEqual([0.3, 0.6, 0.9]);
    expect(events).toEqual([]);

    state = { state: 'succeeded', progress: 1 };
    await act(async () => stream.push({ ...event('operation.succeeded', 'disk', VM), operation_id: OP }));
    expect(await screen.findByText('succeeded 1')).toBeTruthy();
    expect(fetched).toHaveLength(2);
    expect(events).toEqual(['operation.succeeded']);
    live.stop();
  });
});
