import type { Column } from '../../output/table';
import { formatList, formatObject, parseFormat } from '../../output/format';
import type { CommandContext } from '../../framework/spec';

/** Prints a list in the format chosen with -o. */
export function printList<T>(ctx: CommandContext, rows: readonly T[], columns: readonly Column<T>[]): void {
  const format = parseFormat(ctx.opts.output);
  ctx.session.io.stdout.write(formatList(rows, columns, format, ctx.session.width));
  if (format === 'table' && rows.length === 0 && ctx.session.io.stdout.isTTY) ctx.session.info('(none)');
}

/** Prints one object in the format chosen with -o. */
export function printObject(ctx: CommandContext, value: unknown): void {
  ctx.session.io.stdout.write(formatObject(value, parseFormat(ctx.opts.output), ctx.session.width));
}
