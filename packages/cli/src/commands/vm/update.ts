import type { CommandSpec } from '../../framework/spec';
import { updateObject } from '../common/create';
import { nameOrIdArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { parseSet, SET_OPTION, WAIT_OPTIONS } from '../common/mutation';
import { CDROM_HELP, cdromBody } from './cdrom';
import { applyHardware, HARDWARE_OPTIONS } from './options';

export const vmUpdate: CommandSpec = {
  path: ['vm', 'update'],
  aliases: ['edit'],
  summary: 'change a VM (hardware changes apply at the next start)',
  args: [nameOrIdArg(vmKind)],
  options: [
    { flags: '--name <name>', description: 'new name' },
    ...HARDWARE_OPTIONS,
    { flags: '--cdrom <[iso-domain:]file>', description: `insert this ISO: ${CDROM_HELP}; "none" ejects` },
    SET_OPTION,
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const patch = parseSet(ctx.opts.set);
    if (ctx.opts.name !== undefined) patch.name = ctx.opts.name;
    applyHardware(ctx, patch);
    if (ctx.opts.cdrom !== undefined) {
      const connect = async () => (await ctx.session.connect(ctx.opts.profile)).client;
      patch.cdrom =
        ctx.opts.cdrom === 'none'
          ? null
          : await cdromBody(String(ctx.opts.cdrom), connect, ctx.session.signal);
    }
    return updateObject(ctx, vmKind, ctx.args[0], patch);
  },
};
