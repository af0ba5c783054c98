import { listCommand } from '../common/crud';
import { clusterKind, hostKind } from '../common/kinds';

export const hostList = listCommand(hostKind, {
  options: [
    {
      flags: '--cluster <name|id>',
      description: 'only hosts of this cluster',
      complete: { kind: 'resource', resource: 'cluster' },
    },
  ],
  async query(ctx) {
    if (ctx.opts.cluster === undefined) return {};
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const cluster = await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal);
    return { cluster_id: cluster.id };
  },
});
