import type { CommandSpec } from '../../framework/spec';
import { createObject } from '../common/create';
import { clusterKind, datacenterKind } from '../common/kinds';
import { parseSet, SET_OPTION, WAIT_OPTIONS } from '../common/mutation';

export const clusterCreate: CommandSpec = {
  path: ['cluster', 'create'],
  aliases: ['add'],
  summary: 'create a cluster in a data center',
  args: [{ name: 'name', description: 'name of the new cluster', required: true }],
  options: [
    {
      flags: '--datacenter <name|id>',
      description: 'data center the cluster belongs to (required)',
      complete: { kind: 'resource', resource: 'datacenter' },
    },
    { flags: '-d, --description <text>', description: 'free-text description' },
    SET_OPTION,
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const body: Record<string, unknown> = { ...parseSet(ctx.opts.set), name: ctx.args[0] };
    if (ctx.opts.datacenter !== undefined) {
      const { client } = await ctx.session.connect(ctx.opts.profile);
      body.datacenter_id = (
        await datacenterKind.api(client).resolve(String(ctx.opts.datacenter), {}, ctx.session.signal)
      ).id;
    }
    if (ctx.opts.description !== undefined) body.description = ctx.opts.description;
    return createObject(ctx, clusterKind, body);
  },
};
