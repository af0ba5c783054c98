import type { StatsSample } from '@vireo/api';
import { describe, expect, it } from 'vitest';
import { appendSample, formatTime, formatValue, hasValues, latest, metricData, yRange } from './series';

function sample(at: string, over: Partial<StatsSample> = {}): StatsSample {
  return {
    at,
    cpu_percent: 10,
    memory_used_bytes: 1e9,
    memory_total_bytes: 4e9,
    net_rx_bps: null,
    net_tx_bps: null,
    disk_read_bps: 2000,
    disk_write_bps: 0,
    ...over,
  };
}

describe('metricData', () => {
  const samples = [
    sample('2026-05-01T10:00:00.000Z', { cpu_percent: null }),
    sample('2026-05-01T10:00:15.000Z', { cpu_percent: 42.5, disk_write_bps: 512 }),
  ];

  it('puts x in epoch seconds and keeps gaps as null', () => {
    const cpu = metricData(samples, 'cpu');
    expect(cpu.xs).toEqual([
      Date.parse('2026-05-01T10:00:00Z') / 1000,
      Date.parse('2026-05-01T10:00:15Z') / 1000,
    ]);
    expect(cpu.lines).toHaveLength(1);
    expect(cpu.lines[0]?.values).toEqual([null, 42.5]);
  });

  it('draws used and total memory, read and written bytes', () => {
    expect(metricData(samples, 'memory').lines.map((l) => l.values)).toEqual([
      [1e9, 1e9],
      [4e9, 4e9],
    ]);
    expect(metricData(samples, 'disk').lines.map((l) => [l.labelId, l.values])).toEqual([
      ['charts.line.read', [2000, 2000]],
      ['charts.line.written', [0, 512]],
    ]);
  });

  it('tells a metric nobody measures (a host network) from one with data', () => {
    expect(hasValues(metricData(samples, 'network'))).toBe(false);
    expect(hasValues(metricData(samples, 'disk'))).toBe(true);
    expect(hasValues(metricData([], 'cpu'))).toBe(false);
  });
});

describe('appendSample', () => {
  const now = Date.parse('2026-05-01T11:00:00Z');
  it('appends in order and drops points older than the window', () => {
    const old = sample('2026-05-01T09:59:00.000Z');
    const kept = sample('2026-05-01T10:30:00.000Z');
    const next = sample('2026-05-01T10:59:59.000Z');
    expect(appendSample([old, kept], next, 3600, now)).toEqual([kept, next]);
  });

  it('ignores a point it already has and sorts a late one in', () => {
    const a = sample('2026-05-01T10:50:00.000Z');
    const c = sample('2026-05-01T10:52:00.000Z');
    expect(appendSample([a, c], sample('2026-05-01T10:52:00.000Z'), 3600, now)).toEqual([a, c]);
    const b = sample('2026-05-01T10:51:00.000Z');
    expect(appendSample([a, c], b, 3600, now).map((s) => s.at)).toEqual([a.at, b.at, c.at]);
  });
});

describe('formatValue', () => {
  it('formats percentages, sizes and rates in the portal locale', () => {
    expect(formatValue(37.5, 'percent', 'en')).toBe('37.5%');
    expect(formatValue(1_500_000_000, 'bytes', 'en')).toBe('1.5 GB');
    expect(formatValue(340_000, 'bytesPerSecond', 'en')).toBe('340 kB/s');
    expect(formatValue(12, 'bytes', 'en')).toBe('12 byte');
    expect(formatValue(1_234_000_000_000, 'bytes', 'de')).toBe('1,2 TB');
    expect(formatValue(null, 'bytes', 'en')).toBe('–');
  });

  it('speaks Chinese number formats too', () => {
    expect(formatValue(50, 'percent', 'zh-CN')).toBe('50%');
    expect(formatValue(2_000_000, 'bytesPerSecond', 'zh-CN')).toMatch(/^2\s?MB\/秒$|^2\s?MB\/s$/);
  });
});

describe('formatTime', () => {
  it('adds seconds only on short spans', () => {
    const t = Date.UTC(2026, 4, 1, 10, 5, 30) / 1000;
    const long = formatTime(t, 'en-GB', 3600);
    const short = formatTime(t, 'en-GB', 120);
    expect(short.length).toBeGreaterThan(long.length);
    expect(short.endsWith(':30')).toBe(true);
  });
});

describe('latest and yRange', () => {
  it('finds the newest measured value', () => {
    expect(latest([1, 2, null])).toBe(2);
    expect(latest([null, null])).toBeNull();
  });

  it('keeps percent axes at 0–100 and gives others headroom', () => {
    const data = { xs: [1, 2], lines: [{ labelId: 'x', values: [10, 200], color: '#000' }] };
    expect(yRange(data, 'percent')).toEqual([0, 100]);
    const [low, high] = yRange(data, 'bytes');
    expect(low).toBe(0);
    expect(high).toBeCloseTo(220);
    expect(yRange({ xs: [], lines: [] }, 'bytes')).toEqual([0, 1]);
  });
});
