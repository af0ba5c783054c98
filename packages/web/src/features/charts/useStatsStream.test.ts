import { describe, expect, it } from 'vitest';
import { applyStreamMessage, statsStreamUrl } from './useStatsStream';

const point = (at: string, cpu: number) => ({
  at,
  cpu_percent: cpu,
  memory_used_bytes: null,
  memory_total_bytes: null,
  net_rx_bps: null,
  net_tx_bps: null,
  disk_read_bps: null,
  disk_write_bps: null,
});

describe('stats stream messages', () => {
  const now = Date.parse('2026-05-01T10:10:00Z');

  it('replaces the points with a history and appends samples', () => {
    const history = JSON.stringify({
      samples: [point('2026-05-01T10:00:00Z', 1), point('2026-05-01T10:00:15Z', 2)],
    });
    let s = applyStreamMessage([point('2026-05-01T09:59:00Z', 9)], 'history', history, now);
    expect(s.map((p) => p.cpu_percent)).toEqual([1, 2]);
    s = applyStreamMessage(s, 'sample', JSON.stringify(point('2026-05-01T10:00:30Z', 3)), now);
    expect(s.map((p) => p.cpu_percent)).toEqual([1, 2, 3]);
  });

  it('ignores malformed data instead of throwing', () => {
    const s = [point('2026-05-01T10:00:00Z', 1)];
    expect(applyStreamMessage(s, 'sample', 'not json', now)).toBe(s);
    expect(applyStreamMessage(s, 'sample', '{"cpu_percent":5}', now)).toBe(s);
    expect(applyStreamMessage(s, 'history', '{"samples":"nope"}', now)).toBe(s);
    expect(
      applyStreamMessage(s, 'history', '{"samples":[{"at":"2026-05-01T10:00:05Z"},7]}', now),
    ).toHaveLength(1);
  });

  it('addresses the engine stream of a host or VM, escaping the id', () => {
    expect(statsStreamUrl('host', 'a/b')).toBe('/api/v1/hosts/a%2Fb/stats/stream');
    expect(statsStreamUrl('vm', '123')).toBe('/api/v1/vms/123/stats/stream');
  });
});
