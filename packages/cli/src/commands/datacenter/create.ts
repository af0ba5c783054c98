import type { CommandSpec } from '../../framework/spec';
import { createObject } from '../common/create';
import { datacenterKind } from '../common/kinds';
import { parseSet, SET_OPTION, WAIT_OPTIONS } from '../common/mutation';

export const datacenterCreate: CommandSpec = {
  path: ['datacenter', 'create'],
  aliases: ['add'],
  summary: 'create a data center',
  args: [{ name: 'name', description: 'name of the new data center', required: true }],
  options: [
    { flags: '-d, --description <text>', description: 'free-text description' },
    SET_OPTION,
    ...WAIT_OPTIONS,
  ],
  run(ctx) {
    const body: Record<string, unknown> = { ...parseSet(ctx.opts.set), name: ctx.args[0] };
    if (ctx.opts.description !== undefined) body.description = ctx.opts.description;
    return createObject(ctx, datacenterKind, body);
  },
};
