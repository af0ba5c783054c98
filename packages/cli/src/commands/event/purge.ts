import { usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';

export const eventPurge: CommandSpec = {
  path: ['event', 'purge'],
  summary: 'delete events older than a time (at least a day ago); runs as an operation',
  options: [
    { flags: '--before <time>', description: 'RFC 3339 time; older events are deleted (required)' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const before = ctx.opts.before as string | undefined;
    if (!before) throw usageError('give --before TIME (RFC 3339, e.g. 2026-01-01T00:00:00Z)');
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const result = await client.events.purge(before, ctx.session.signal);
    return finishMutation(ctx, client, result, { done: `events before ${before} purged` });
  },
};
