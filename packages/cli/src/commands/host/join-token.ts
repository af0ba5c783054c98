import type { JoinToken } from '@vireo/client';
import { usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { clusterKind } from '../common/kinds';
import { printObject } from '../common/output';

export const hostJoinToken: CommandSpec = {
  path: ['host', 'join-token'],
  summary: 'make a one-time token for `vireo-agent join` on a new host',
  options: [
    {
      flags: '--cluster <name|id>',
      description: 'cluster the joining host enters (required)',
      complete: { kind: 'resource', resource: 'cluster' },
    },
    { flags: '--ttl <seconds>', description: 'how long the token stays valid (default 3600)' },
  ],
  async run(ctx) {
    if (ctx.opts.cluster === undefined) throw usageError('--cluster is required');
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const cluster = await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal);
    const body: Record<string, unknown> = { cluster_id: cluster.id };
    if (ctx.opts.ttl !== undefined) {
      const ttl = Number(ctx.opts.ttl);
      if (!Number.isInteger(ttl) || ttl < 1) {
        throw usageError(`--ttl must be a positive number of seconds, not ${JSON.stringify(ctx.opts.ttl)}`);
      }
      body.ttl_s = ttl;
    }
    const res = await client.request<JoinToken>('POST', '/hosts/join-tokens', {
      body,
      signal: ctx.session.signal,
    });
    printObject(ctx, res.body);
    ctx.session.info(
      `on the new host: vireo-agent join --engine ${client.origin} --token-stdin --ca-fingerprint ${res.body.ca_fingerprint} --address ADDRESS --name NAME`,
    );
    return 0;
  },
};
