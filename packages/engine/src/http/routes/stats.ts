import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParams, StatsHistory, StatsHistoryQuery, type StatsSample } from '@vireo/api';
import { authorize } from '../../auth/authorize';
import type { StoredSample } from '../../stats/rates';
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
};
