import type { CommandContext } from '../../framework/spec';
import { listCommand } from '../common/crud';
import { clusterKind, hostKind, vmKind } from '../common/kinds';

async function vmFilters(ctx: CommandContext): Promise<Record<string, string>> {
  const query: Record<string, string> = {};
  if (ctx.opts.cluster === undefined && ctx.opts.host === undefined) return query;
  const { client } = await ctx.session.connect(ctx.opts.profile);
  if (ctx.opts.cluster !== undefined) {
    query.cluster_id = (
      await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal)
    ).id;
  }
  if (ctx.opts.host !== undefined) {
    query.host_id = (await hostKind.api(client).resolve(String(ctx.opts.host), {}, ctx.session.signal)).id;
  }
  return query;
}

export const vmList = listCommand(vmKind, {
  options: [
    {
      flags: '--cluster <name|id>',
      description: 'only VMs of this cluster',
      complete: { kind: 'resource', resource: 'cluster' },
    },
    {
      flags: '--host <name|id>',
      description: 'only VMs on this host',
      complete: { kind: 'resource', resource: 'host' },
    },
  ],
  query: vmFilters,
});
