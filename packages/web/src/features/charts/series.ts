import type { StatsSample } from '@vireo/api';

/** What a chart's y values mean; decides the axis labels and the tooltip text. */
export type Unit = 'percent' | 'bytes' | 'bytesPerSecond';

/** One line of a chart: its values aligned with the chart's x values (null = a gap). */
export interface Line {
  /** Message id of the line's label. */
  labelId: string;
  values: (number | null)[];
  color: string;
}

/** Everything a chart draws: x in seconds since the epoch (uPlot's convention), one array per line. */
export interface ChartData {
  xs: number[];
  lines: Line[];
}

/** The four panels every host and VM shows, in order. */
export type Metric = 'cpu' | 'memory' | 'network' | 'disk';
export const METRICS: readonly Metric[] = ['cpu', 'memory', 'network', 'disk'];

export const METRIC_UNIT: Record<Metric, Unit> = {
  cpu: 'percent',
  memory: 'bytes',
  network: 'bytesPerSecond',
  disk: 'bytesPerSecond',
};

// PatternFly 6 chart palette (blue, teal/green, orange, purple): readable on light backgrounds.
const BLUE = '#0066cc';
const GREEN = '#3d7317';
const ORANGE = '#ca6c0f';
const PURPLE = '#5e40be';

/** The lines of one metric from a stats history, oldest first. */
export function metricData(samples: readonly StatsSample[], metric: Metric): ChartData {
  const xs = samples.map((s) => Date.parse(s.at) / 1000);
  const pick = (f: (s: StatsSample) => number | null) => samples.map(f);
  switch (metric) {
    case 'cpu':
      return { xs, lines: [{ labelId: 'charts.line.cpu', values: pick((s) => s.cpu_percent), color: BLUE }] };
    case 'memory':
      return {
        xs,
        lines: [
          { labelId: 'charts.line.memoryUsed', values: pick((s) => s.memory_used_bytes), color: BLUE },
          { labelId: 'charts.line.memoryTotal', values: pick((s) => s.memory_total_bytes), color: PURPLE },
        ],
      };
    case 'network':
      return {
        xs,
        lines: [
          { labelId: 'charts.line.received', values: pick((s) => s.net_rx_bps), color: GREEN },
          { labelId: 'charts.line.sent', values: pick((s) => s.net_tx_bps), color: ORANGE },
        ],
      };
    case 'disk':
      return {
        xs,
        lines: [
          { labelId: 'charts.line.read', values: pick((s) => s.disk_read_bps), color: GREEN },
          { labelId: 'charts.line.written', values: pick((s) => s.disk_write_bps), color: ORANGE },
        ],
      };
  }
}

/** Whether any line has a value: a panel without any says "not measured" instead of an empty plot. */
export function hasValues(data: ChartData): boolean {
  return data.lines.some((l) => l.values.some((v) => v !== null));
}

/** The newest value of a line, for the panel's headline figure. */
export function latest(values: readonly (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/**
 * Adds one live point to a history: in time order, without duplicates (a reconnect replays the
 * history), and without points older than the retention window.
 */
export function appendSample(
  samples: readonly StatsSample[],
  sample: StatsSample,
  retentionS: number,
  now = Date.now(),
): StatsSample[] {
  const at = Date.parse(sample.at);
  const last = samples[samples.length - 1];
  const cutoff = now - retentionS * 1000;
  const kept = samples.filter((s) => Date.parse(s.at) >= cutoff);
  if (last && Date.parse(last.at) >= at) {
    if (kept.some((s) => s.at === sample.at)) return kept;
    return [...kept, sample].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  }
  return [...kept, sample];
}

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte', 'petabyte'] as const;

/**
 * A value as people read it, in the portal's locale: `37.5 %`, `1.2 GB`, `340 kB/s`. Decimal (SI)
 * steps, so the unit names Intl knows (kB, MB, GB) are exactly right.
 */
export function formatValue(value: number | null, unit: Unit, locale: string): string {
  if (value === null || !Number.isFinite(value)) return '–';
  if (unit === 'percent') {
    return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(value / 100);
  }
  let v = Math.abs(value);
  let i = 0;
  while (v >= 1000 && i < BYTE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const unitName = unit === 'bytesPerSecond' ? `${BYTE_UNITS[i]}-per-second` : BYTE_UNITS[i];
  return new Intl.NumberFormat(locale, {
    style: 'unit',
    unit: unitName,
    unitDisplay: 'short',
    maximumFractionDigits: v < 10 && i > 0 ? 1 : 0,
  }).format(Math.sign(value) * v);
}

/**
 * A time axis tick in the portal's locale: hours and minutes, plus seconds when the axis spans less
 * than ten minutes (otherwise neighbouring ticks would read the same).
 */
export function formatTime(seconds: number, locale: string, spanSeconds = Number.POSITIVE_INFINITY): string {
  return new Intl.DateTimeFormat(locale, {
    hour: '2-digit',
    minute: '2-digit',
    ...(spanSeconds < 600 ? { second: '2-digit' } : {}),
  }).format(new Date(seconds * 1000));
}

/** The y range of a chart: percentages always 0–100, others from 0 to a little above the maximum. */
export function yRange(data: ChartData, unit: Unit): [number, number] {
  if (unit === 'percent') return [0, 100];
  let max = 0;
  for (const l of data.lines) for (const v of l.values) if (v !== null && v > max) max = v;
  return [0, max > 0 ? max * 1.1 : 1];
}
