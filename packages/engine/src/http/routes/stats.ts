import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { IdParams, StatsHistory, StatsHistoryQuery, type StatsSample } from '@vireo/api';
import { authorize } from '../../auth/authorize';
import type { StoredSample } from '../../stats/rates';
import { serveStatsStream } from '../../stats/stream';
import type { AppDeps } from '../deps';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

const TAGS = ['stats'];

function sinceMs(since: string | undefined): number {
  return since === undefined ? Number.NEGATIVE_INFINITY : Date.parse(since);
}

function toWire(s: StoredSample, cpuDivisor = 1, memoryTotal?: number): StatsSample {
  return {
    at: new Date(s.at).toISOString(),
    // A QEMU's I/O threads can add a little over its vCPUs' time: cap so 100 % means "all vCPUs busy".
    cpu_percent:
      s.cpu_percent === null ? null : Math.min(100, Math.round((s.cpu_percent / cpuDivisor) * 100) / 100),
    memory_used_bytes: s.memory_used_bytes,
    memory_total_bytes: memoryTotal ?? s.memory_total_bytes,
    net_rx_bps: s.net_rx_bps,
    net_tx_bps: s.net_tx_bps,
    disk_read_bps: s.disk_read_bps,
    disk_write_bps: s.disk_write_bps,
  };
}

/**
 * `GET /hosts/{id}/stats/history` and `GET /vms/{id}/stats/history`: the engine's short in-memory
 * history of agent stats (ADR 016). Without a history (tests that build no hub) both answer an
 * empty list rather than an error: "nothing sampled yet" is the truth.
 */
export const statsRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const streams = new Set<ServerResponse>();
  // Streams never end by themselves: end them when the app closes so shutdown does not hang.
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });
  const heartbeatMs = deps.events.stream.heartbeatMs;
  const maxBufferedBytes = deps.events.stream.maxBufferedBytes;
  const streamSchema = (summary: string) => ({
    tags: TAGS,
    summary,
    description:
      'A `text/event-stream`: first `event: history` with `{"samples":[…]}` (as the history route), then ' +
      '`event: sample` with each new point as it arrives from the agent. A comment line keeps it open.',
    params: IdParams,
    produces: ['text/event-stream'],
    response: { 200: Type.String({ description: 'The stats stream' }), ...errorResponses(...AUTHED, 404) },
  });
  app.get(
    '/hosts/:id/stats/history',
    {
      schema: {
        tags: TAGS,
        summary: "A host's CPU, memory (and I/O when reported) over the last hour",
        params: IdParams,
        querystring: StatsHistoryQuery,
        response: { 200: StatsHistory, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'host.read', { kind: 'host', id });
      await deps.services.hosts.get(id);
      const samples = deps.stats?.hostSamples(id, sinceMs(request.query.since)) ?? [];
      return { samples: samples.map((s) => toWire(s)), retention_s: deps.stats?.retentionSeconds ?? 0 };
    },
  );

  app.get(
    '/vms/:id/stats/history',
    {
      schema: {
        tags: TAGS,
        summary: "A VM's CPU, memory, network and disk I/O over the last hour",
        params: IdParams,
        querystring: StatsHistoryQuery,
        response: { 200: StatsHistory, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'vm.read', { kind: 'vm', id });
      const vm = await deps.services.vms.get(id);
      const samples = deps.stats?.vmSamples(id, sinceMs(request.query.since)) ?? [];
      const memoryTotal = vm.memory_mib * 1024 * 1024;
      return {
        samples: samples.map((s) => toWire(s, Math.max(1, vm.cpus), memoryTotal)),
        retention_s: deps.stats?.retentionSeconds ?? 0,
      };
    },
  );

  app.get(
    '/hosts/:id/stats/stream',
    { schema: streamSchema("A host's stats, live") },
    async (request, reply) => {
      const { id } = request.params;
      const principal = principalOf(request);
      authorize(principal, 'host.read', { kind: 'host', id });
      await deps.services.hosts.get(id);
      reply.hijack();
      reply.raw.setHeader('x-content-type-options', 'nosniff');
      streams.add(reply.raw);
      try {
        await serveStatsStream(reply.raw, {
          history: (deps.stats?.hostSamples(id) ?? []).map((s) => toWire(s)),
          subscribe: (send) => deps.stats?.subscribe('host', id, (p) => send(toWire(p))) ?? (() => {}),
          heartbeatMs,
          maxBufferedBytes,
          endAt: principal.expiresAt,
        });
      } finally {
        streams.delete(reply.raw);
      }
    },
  );

  app.get('/vms/:id/stats/stream', { schema: streamSchema("A VM's stats, live") }, async (request, reply) => {
    const { id } = request.params;
    const principal = principalOf(request);
    authorize(principal, 'vm.read', { kind: 'vm', id });
    const vm = await deps.services.vms.get(id);
    const wire = (s: StoredSample) => toWire(s, Math.max(1, vm.cpus), vm.memory_mib * 1024 * 1024);
    reply.hijack();
    reply.raw.setHeader('x-content-type-options', 'nosniff');
    streams.add(reply.raw);
    try {
      await serveStatsStream(reply.raw, {
        history: (deps.stats?.vmSamples(id) ?? []).map(wire),
        subscribe: (send) => deps.stats?.subscribe('vm', id, (p) => send(wire(p))) ?? (() => {}),
        heartbeatMs,
        maxBufferedBytes,
        endAt: principal.expiresAt,
      });
    } finally {
      streams.delete(reply.raw);
    }
  });
};
