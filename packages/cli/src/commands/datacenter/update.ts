import type { CommandSpec } from '../../framework/spec';
import { nameOrIdArg } from '../common/crud';
import { updateObject } from '../common/create';
import { datacenterKind } from '../common/kinds';
import { parseSet, SET_OPTION, WAIT_OPTIONS } from '../common/mutation';

export const datacenterUpdate: CommandSpec = {
  path: ['datacenter', 'update'],
  aliases: ['edit'],
  summary: 'change a data center',
  args: [nameOrIdArg(datacenterKind)],
  options: [
    { flags: '--name <name>', description: 'new name' },
    { flags: '-d, --description <text>', description: 'new description' },
    SET_OPTION,
    ...WAIT_OPTIONS,
  ],
  run(ctx) {
    const patch = parseSet(ctx.opts.set);
    if (ctx.opts.name !== undefined) patch.name = ctx.opts.name;
    if (ctx.opts.description !== undefined) patch.description = ctx.opts.description;
    return updateObject(ctx, datacenterKind, ctx.args[0], patch);
  },
};
