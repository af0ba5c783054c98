import type { CommandSpec } from '../../framework/spec';
import { nameOrIdArg, resolveArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';

export const vmDelete: CommandSpec = {
  path: ['vm', 'delete'],
  aliases: ['rm', 'remove'],
  summary: 'delete a VM that is down (and its disk images unless --keep-disks)',
  args: [nameOrIdArg(vmKind)],
  options: [{ flags: '--keep-disks', description: 'leave the disk images on the host' }, ...WAIT_OPTIONS],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
    const result = await vmKind.api(client).delete(object.id, {
      signal: ctx.session.signal,
      query: ctx.opts.keepDisks ? { remove_disks: false } : undefined,
    });
    return finishMutation(ctx, client, result, { done: `deleted VM ${object.name}` });
  },
};
