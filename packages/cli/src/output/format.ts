import { stringify } from 'yaml';
import { usageError } from '../framework/errors';
import { type Column, renderFields, renderTable } from './table';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseFormat(value: unknown): OutputFormat {
  const v = value === undefined ? 'table' : String(value);
  if ((OUTPUT_FORMATS as readonly string[]).includes(v)) return v as OutputFormat;
  throw usageError(`unknown output format ${JSON.stringify(v)} (use ${OUTPUT_FORMATS.join(', ')})`);
}

/** A list as a table, a JSON array or a YAML sequence. */
export function formatList<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  format: OutputFormat,
  width?: number,
): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (format === 'yaml') return rows.length === 0 ? '[]\n' : stringify(rows);
  return renderTable(rows, columns, width);
}

/** One object as FIELD/VALUE lines, JSON or YAML. */
export function formatObject(value: unknown, format: OutputFormat, width?: number): string {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  if (format === 'yaml') return stringify(value);
  return renderFields(value, width);
}

/** One item of a stream: a table line, one JSON document per line, or a YAML document. */
export function formatStreamItem<T>(
  row: T,
  columns: readonly Column<T>[],
  format: OutputFormat,
  width?: number,
): string {
  if (format === 'json') return `${JSON.stringify(row)}\n`;
  if (format === 'yaml') return `---\n${stringify(row)}`;
  // One line per item with the table's columns but no header and no alignment across items.
  return renderTable([row], columns, width).split('\n').slice(1).join('\n');
}
