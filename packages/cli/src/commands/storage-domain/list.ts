import type { ListQuery } from '@vireo/client';
import { usageError } from '../../framework/errors';
import { listCommand } from '../common/crud';
import { datacenterKind } from '../common/kinds';
import { storageDomainKind } from './kind';

export const storageDomainList = listCommand(storageDomainKind, {
  options: [
    {
      flags: '--datacenter <name|id>',
      description: 'only domains attached to this data center',
      complete: { kind: 'resource', resource: 'datacenter' },
    },
    { flags: '--kind <data|iso|export>', description: 'only domains of this kind' },
  ],
  async query(ctx) {
    const q: ListQuery & Record<string, unknown> = {};
    if (ctx.opts.kind !== undefined) {
      if (!['data', 'iso', 'export'].includes(String(ctx.opts.kind)))
        throw usageError('--kind is data, iso or export');
      q.kind = String(ctx.opts.kind);
    }
    if (ctx.opts.datacenter !== undefined) {
      const { client } = await ctx.session.connect(ctx.opts.profile);
      const dc = await datacenterKind
        .api(client)
        .resolve(String(ctx.opts.datacenter), {}, ctx.session.signal);
      q.datacenter_id = dc.id;
    }
    return q;
  },
});
