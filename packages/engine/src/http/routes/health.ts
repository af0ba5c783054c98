import { Type } from '@sinclair/typebox';
import { HealthReport } from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';

/** `GET /health` (public): 200 when healthy, 503 with the same body when not. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        tags: ['system'],
        summary: 'Engine health: version, database reachability and migration state',
        security: [],
        response: { 200: Type.Ref(HealthReport), 503: Type.Ref(HealthReport) },
      },
    },
    async (_request, reply) => {
      const report = await deps.health();
      return reply.code(report.status === 'ok' ? 200 : 503).send(report);
    },
  );
};
