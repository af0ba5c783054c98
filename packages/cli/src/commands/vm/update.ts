import type { CommandSpec } from '../../framework/spec';
import { updateObject } from '../common/create';
import { nameOrIdArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { parseSet, SET_OPTION, WAIT_OPTIONS } from '../common/mutation';
import { applyHardware, HARDWARE_OPTIONS } from './options';

export const vmUpdate: CommandSpec = {
  path: ['vm', 'update'],
  aliases: ['edit'],
  summary: 'change a VM (hardware changes apply at the next start)',
  args: [nameOrIdArg(vmKind)],
  options: [
    { flags: '--name <name>', description: 'new name' },
    ...HARDWARE_OPTIONS,
    { flags: '--cdrom <image>', description: 'insert this ISO image; "none" ejects' },
    SET_OPTION,
    ...WAIT_OPTIONS,
  ],
  run(ctx) {
    const patch = parseSet(ctx.opts.set);
    if (ctx.opts.name !== undefined) patch.name = ctx.opts.name;
    applyHardware(ctx, patch);
    if (ctx.opts.cdrom !== undefined) {
      patch.cdrom = ctx.opts.cdrom === 'none' ? null : { image: String(ctx.opts.cdrom) };
    }
    return updateObject(ctx, vmKind, ctx.args[0], patch);
  },
};
