import { CliError, ExitCode } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { formatStreamItem, parseFormat } from '../../output/format';
import { EVENT_COLUMNS, eventFilterQuery } from './columns';
import { EVENT_LIST_OPTIONS, listEvents } from './list';

/**
 * `vireo events [--follow]`: without --follow the same as `event list`; with it, tails the live
 * stream (one line, JSON document or YAML document per event) until Ctrl-C.
 */
export const events: CommandSpec = {
  path: ['events'],
  summary: 'list events, or with --follow print new events as they happen (Ctrl-C stops)',
  options: [
    { flags: '-f, --follow', description: 'keep printing new events as they happen' },
    ...EVENT_LIST_OPTIONS,
  ],
  async run(ctx) {
    if (!ctx.opts.follow) return listEvents(ctx);
    const format = parseFormat(ctx.opts.output);
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const filters = eventFilterQuery(ctx);
    if (ctx.session.io.stderr.isTTY) ctx.session.info('following events; press Ctrl-C to stop');
    const stream = client.events.stream({
      kinds: filters.kind,
      since: filters.since,
      severity: filters.severity,
      objectId: filters.object_id,
      signal: ctx.session.signal,
      onReconnect: ({ delayMs }) =>
        ctx.session.info(`event stream interrupted; reconnecting in ${Math.round(delayMs / 1000)} s`),
    });
    for await (const ev of stream) {
      ctx.session.io.stdout.write(formatStreamItem(ev, EVENT_COLUMNS, format, ctx.session.width));
    }
    if (ctx.session.signal.aborted) return ExitCode.ok;
    throw new CliError('stream_ended', 'the event stream ended', ExitCode.connection);
  },
};
