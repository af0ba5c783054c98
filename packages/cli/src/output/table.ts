import { cell, displayWidth, pad, truncate, wrap } from './text';

/** One column of a list table. */
export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** How the column gives way when the table is wider than the terminal. Default `truncate`. */
  overflow?: 'truncate' | 'wrap' | 'fixed';
  /** Narrowest the column may become. Default: the header's width, at most 8. */
  minWidth?: number;
  align?: 'left' | 'right';
}

const GAP = 2;

/**
 * Chooses column widths: natural widths when they fit, otherwise the widest shrinkable column
 * gives up one column at a time until the table fits or every column is at its minimum (then
 * the terminal wraps, which is better than hiding a column the user asked for).
 */
export function fitWidths(
  natural: readonly number[],
  minimums: readonly number[],
  shrinkable: readonly boolean[],
  width?: number,
): number[] {
  const widths = [...natural];
  if (width === undefined) return widths;
  const available = width - GAP * Math.max(0, widths.length - 1);
  let total = widths.reduce((a, b) => a + b, 0);
  while (total > available) {
    let pick = -1;
    for (let i = 0; i < widths.length; i++) {
      if (!shrinkable[i] || widths[i]! <= minimums[i]!) continue;
      if (pick === -1 || widths[i]! > widths[pick]!) pick = i;
    }
    if (pick === -1) break;
    widths[pick]!--;
    total--;
  }
  return widths;
}

/** Renders rows as an aligned table; `width` (a terminal's) makes it fit, undefined never cuts. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[], width?: number): string {
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row))));
  const natural = columns.map((c, i) =>
    Math.max(displayWidth(c.header), ...cells.map((r) => displayWidth(r[i]!))),
  );
  const minimums = columns.map((c, i) =>
    Math.min(natural[i]!, c.minWidth ?? Math.min(8, displayWidth(c.header))),
  );
  const shrinkable = columns.map((c) => c.overflow !== 'fixed');
  const widths = fitWidths(natural, minimums, shrinkable, width);
  const lastIndex = columns.length - 1;
  const line = (parts: string[]) => parts.join(' '.repeat(GAP)).trimEnd();
  const out: string[] = [];
  out.push(
    line(
      columns.map((c, i) =>
        pad(truncate(c.header, widths[i]!), i === lastIndex ? 0 : widths[i]!, c.align === 'right'),
      ),
    ),
  );
  for (const row of cells) {
    const split = row.map((v, i) => {
      const w = widths[i]!;
      if (displayWidth(v) <= w) return [v];
      return columns[i]!.overflow === 'wrap' ? wrap(v, w) : [truncate(v, w)];
    });
    const height = Math.max(...split.map((s) => s.length));
    for (let l = 0; l < height; l++) {
      out.push(
        line(
          split.map((s, i) =>
            pad(s[l] ?? '', i === lastIndex ? 0 : widths[i]!, columns[i]!.align === 'right'),
          ),
        ),
      );
    }
  }
  return `${out.join('\n')}\n`;
}

/** Flattens an object to `key: value` pairs (`target.kind`, `disks[0].size_gib`). */
export function flatten(value: unknown, prefix = '', out: [string, unknown][] = []): [string, unknown][] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0 && prefix) out.push([prefix, '']);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value) && value.some((v) => v && typeof v === 'object')) {
    value.forEach((v, i) => {
      flatten(v, `${prefix}[${i}]`, out);
    });
  } else {
    out.push([prefix, value]);
  }
  return out;
}

/** Renders one object as two columns, FIELD and VALUE, wrapping long values to `width`. */
export function renderFields(value: unknown, width?: number): string {
  const pairs = flatten(value).map(([k, v]) => [cell(k), cell(v)] as const);
  const keyWidth = Math.max(0, ...pairs.map(([k]) => displayWidth(k)));
  const valueWidth = width === undefined ? undefined : Math.max(10, width - keyWidth - GAP);
  const out: string[] = [];
  for (const [k, v] of pairs) {
    const lines = valueWidth === undefined ? [v] : wrap(v, valueWidth);
    lines.forEach((l, i) => {
      out.push(`${pad(i === 0 ? k : '', keyWidth)}${' '.repeat(GAP)}${l}`.trimEnd());
    });
  }
  return `${out.join('\n')}\n`;
}
