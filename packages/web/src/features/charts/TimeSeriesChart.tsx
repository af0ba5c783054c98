import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type ChartData, formatTime, formatValue, type Unit, yRange } from './series';

export interface TimeSeriesChartProps {
  data: ChartData;
  unit: Unit;
  /** Translated line labels, in the order of `data.lines`. */
  labels: string[];
  locale: string;
  /** Plot height in CSS pixels (the legend below adds its own). */
  height?: number;
  /** What the chart shows, for screen readers. */
  ariaLabel: string;
}

const dateTime = (locale: string) =>
  new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Points the legend at the newest point while the cursor is not over the plot. */
function showLatest(u: uPlot): void {
  const last = (u.data[0]?.length ?? 0) - 1;
  if (last >= 0 && (u.cursor.idx === null || u.cursor.idx === undefined)) u.setLegend({ idx: last }, false);
}

function aligned(data: ChartData): uPlot.AlignedData {
  return [data.xs, ...data.lines.map((l) => l.values)] as uPlot.AlignedData;
}

/**
 * A small time-series line chart (uPlot, canvas): localized time and value axes, and a legend
 * that shows each line's value under the cursor (the tooltip). It fills its container's width and
 * follows it when the page resizes. Only this module imports uPlot, so the library loads with the
 * first chart and not with the portal.
 */
export function TimeSeriesChart({
  data,
  unit,
  labels,
  locale,
  height = 160,
  ariaLabel,
}: TimeSeriesChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latestData = useRef(data);
  latestData.current = data;
  const shape = `${unit}|${locale}|${labels.join('\u0000')}|${data.lines.map((l) => l.color).join(',')}`;

  // (Re)build the plot when what it draws changes shape; data alone only updates it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `shape` covers unit, locale, labels and colours
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const times = dateTime(locale);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: {
        x: { time: true },
        y: { range: () => yRange(latestData.current, unit) },
      },
      series: [
        { value: (_u, v) => (v === null || v === undefined ? '–' : times.format(new Date(v * 1000))) },
        ...latestData.current.lines.map((line, i) => ({
          label: labels[i] ?? line.labelId,
          stroke: line.color,
          width: 2,
          fill: `${line.color}22`,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => formatValue(v, unit, locale),
        })),
      ],
      axes: [
        {
          values: (u, splits) => {
            const span = (u.scales.x?.max ?? 0) - (u.scales.x?.min ?? 0);
            return splits.map((s) => formatTime(s, locale, span));
          },
        },
        { values: (_u, splits) => splits.map((s) => formatValue(s, unit, locale)), size: 76 },
      ],
      legend: { show: true, live: true },
      hooks: {
        // Off the plot, the legend shows the newest values rather than dashes.
        setCursor: [(u) => showLatest(u)],
      },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, aligned(latestData.current), el);
    plot.current = u;
    showLatest(u);
    const resize = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (width !== u.width) u.setSize({ width, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape, height]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(aligned(data));
    showLatest(u);
  }, [data]);

  return (
    <div
      ref={box}
      className="vireo-chart"
      role="img"
      aria-label={ariaLabel}
      data-testid="time-series-chart"
    />
  );
}
