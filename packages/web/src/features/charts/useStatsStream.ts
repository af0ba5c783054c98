import type { StatsSample } from '@vireo/api';
import { useEffect, useState } from 'react';
import { appendSample } from './series';

export type StatsStreamStatus = 'connecting' | 'live' | 'reconnecting' | 'failed';

export interface StatsStreamState {
  samples: StatsSample[];
  status: StatsStreamStatus;
}

/** Default window when the engine does not say (it keeps one hour unless configured otherwise). */
const RETENTION_S = 3600;

/** What the stream hook needs from `EventSource`; tests hand in a fake. */
export interface StatsEventSource {
  addEventListener(type: 'history' | 'sample', listener: (e: MessageEvent<string>) => void): void;
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  readonly readyState: number;
  close(): void;
}

export type StatsEventSourceFactory = (url: string) => StatsEventSource;

const browserSource: StatsEventSourceFactory = (url) =>
  new EventSource(url, { withCredentials: true }) as unknown as StatsEventSource;

/** The engine's live stats stream of a host or VM. */
export function statsStreamUrl(kind: 'host' | 'vm', id: string): string {
  return `/api/v1/${kind === 'host' ? 'hosts' : 'vms'}/${encodeURIComponent(id)}/stats/stream`;
}

/**
 * Applies one stream message to the state: `history` replaces the points (first message, and again
 * after every reconnect), `sample` appends one. Malformed data is ignored, never thrown.
 */
export function applyStreamMessage(
  samples: StatsSample[],
  type: 'history' | 'sample',
  data: string,
  now = Date.now(),
): StatsSample[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return samples;
  }
  if (type === 'history') {
    const list = (parsed as { samples?: unknown }).samples;
    return Array.isArray(list) ? (list.filter(isSample) as StatsSample[]) : samples;
  }
  return isSample(parsed) ? appendSample(samples, parsed, RETENTION_S, now) : samples;
}

function isSample(v: unknown): v is StatsSample {
  return typeof v === 'object' && v !== null && typeof (v as { at?: unknown }).at === 'string';
}

/**
 * A host's or VM's stats, live: one `EventSource` on the engine's stats stream while mounted (the
 * engine pushes each new point; nothing polls). The browser reconnects on its own after a network
 * error; an answer that is not a stream (401, 404) ends it (`failed`).
 */
export function useStatsStream(
  kind: 'host' | 'vm',
  id: string,
  open: StatsEventSourceFactory = browserSource,
): StatsStreamState {
  const [state, setState] = useState<StatsStreamState>({ samples: [], status: 'connecting' });
  useEffect(() => {
    setState({ samples: [], status: 'connecting' });
    const source = open(statsStreamUrl(kind, id));
    const on = (type: 'history' | 'sample') => (e: MessageEvent<string>) =>
      setState((s) => ({ status: 'live', samples: applyStreamMessage(s.samples, type, e.data) }));
    source.addEventListener('history', on('history'));
    source.addEventListener('sample', on('sample'));
    source.onopen = () => setState((s) => ({ ...s, status: 'live' }));
    // readyState 2 (CLOSED) after an error: the browser gave up (the answer was not a stream).
    source.onerror = () =>
      setState((s) => ({ ...s, status: source.readyState === 2 ? 'failed' : 'reconnecting' }));
    return () => source.close();
  }, [kind, id, open]);
  return state;
}
