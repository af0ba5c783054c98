// @vitest-environment jsdom
import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { type StatsEventSource, useStatsStream } from './useStatsStream';

/** An EventSource stand-in the test drives, as the engine's stream would. */
class FakeSource implements StatsEventSource {
  static opened: FakeSource[] = [];
  readonly listeners = new Map<string, (e: MessageEvent<string>) => void>();
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readyState = 0;
  closed = false;
  constructor(readonly url: string) {
    FakeSource.opened.push(this);
  }
  addEventListener(type: string, listener: (e: MessageEvent<string>) => void) {
    this.listeners.set(type, listener);
  }
  emit(type: string, data: unknown) {
    this.listeners.get(type)?.(new MessageEvent(type, { data: JSON.stringify(data) }));
  }
  close() {
    this.closed = true;
  }
}
const open = (url: string) => new FakeSource(url);

const point = (at: string, cpu: number) => ({
  at,
  cpu_percent: cpu,
  memory_used_bytes: 1,
  memory_total_bytes: 2,
  net_rx_bps: null,
  net_tx_bps: null,
  disk_read_bps: null,
  disk_write_bps: null,
});

describe('useStatsStream', () => {
  afterEach(() => {
    cleanup();
    FakeSource.opened = [];
  });

  it('opens one stream per object, takes the history then live points, and closes on unmount', () => {
    const { result, rerender, unmount } = renderHook(({ id }) => useStatsStream('vm', id, open), {
      initialProps: { id: 'vm-1' },
    });
    expect(result.current.status).toBe('connecting');
    const source = FakeSource.opened[0]!;
    expect(source.url).toBe('/api/v1/vms/vm-1/stats/stream');
    const t = Date.now();
    act(() =>
      source.emit('history', {
        samples: [point(new Date(t - 2000).toISOString(), 1), point(new Date(t - 1000).toISOString(), 2)],
      }),
    );
    expect(result.current.status).toBe('live');
    act(() => source.emit('sample', point(new Date(t).toISOString(), 3)));
    expect(result.current.samples.map((s) => s.cpu_percent)).toEqual([1, 2, 3]);

    rerender({ id: 'vm-2' });
    expect(source.closed).toBe(true);
    expect(FakeSource.opened[1]?.url).toBe('/api/v1/vms/vm-2/stats/stream');
    expect(result.current.samples).toEqual([]);
    unmount();
    expect(FakeSource.opened[1]?.closed).toBe(true);
  });

  it('says reconnecting while the browser retries, and failed when it gave up', () => {
    const { result } = renderHook(() => useStatsStream('host', 'h', open));
    const source = FakeSource.opened[0]!;
    act(() => source.onerror?.());
    expect(result.current.status).toBe('reconnecting');
    source.readyState = 2;
    act(() => source.onerror?.());
    expect(result.current.status).toBe('failed');
  });
});
