import type { VireoEvent } from '@vireo/client';
import type { CommandContext, CommandSpec, OptionSpec } from '../../framework/spec';
import { parseLimit } from '../common/crud';
import { printList } from '../common/output';
import { EVENT_COLUMNS, EVENT_FILTERS, eventFilterQuery } from './columns';

/** Lists the audit log, newest first; shared with `vireo events` (without --follow). */
export async function listEvents(ctx: CommandContext): Promise<number> {
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const limit = parseLimit(ctx.opts.limit) ?? 100;
  const rows: VireoEvent[] = [];
  const query = {
    ...eventFilterQuery(ctx),
    search: ctx.opts.search as string | undefined,
    limit: Math.min(limit, 500),
  };
  for await (const ev of client.events.paginate(query, ctx.session.signal)) {
    rows.push(ev);
    if (rows.length >= limit) break;
  }
  printList(ctx, rows, EVENT_COLUMNS);
  return 0;
}

export const EVENT_LIST_OPTIONS: readonly OptionSpec[] = [
  ...EVENT_FILTERS,
  { flags: '--search <text>', description: 'only events whose message contains this' },
  { flags: '--limit <n>', description: 'show at most n events (default 100)' },
];

export const eventList: CommandSpec = {
  path: ['event', 'list'],
  aliases: ['ls'],
  summary: 'list audit events, newest first',
  options: EVENT_LIST_OPTIONS,
  run: listEvents,
};
