import type { Cluster } from '@vireo/client';
import type { CommandContext } from '../../framework/spec';
import { listCommand } from '../common/crud';
import { clusterKind, datacenterKind } from '../common/kinds';

/** Shows data-center names instead of ids: one extra list call, not one per row. */
async function withDatacenterNames(ctx: CommandContext, rows: Cluster[]): Promise<Cluster[]> {
  if (rows.length === 0 || ctx.opts.output !== 'table') return rows;
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const names = new Map<string, string>();
  for await (const dc of client.datacenters.paginate({}, ctx.session.signal)) names.set(dc.id, dc.name);
  return rows.map((c) => ({ ...c, datacenter_name: names.get(c.datacenter_id) ?? c.datacenter_id }));
}

export const clusterList = listCommand(clusterKind, {
  options: [
    {
      flags: '--datacenter <name|id>',
      description: 'only clusters of this data center',
      complete: { kind: 'resource', resource: 'datacenter' },
    },
  ],
  async query(ctx) {
    if (ctx.opts.datacenter === undefined) return {};
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const dc = await datacenterKind.api(client).resolve(String(ctx.opts.datacenter), {}, ctx.session.signal);
    return { datacenter_id: dc.id };
  },
  decorate: withDatacenterNames,
});
