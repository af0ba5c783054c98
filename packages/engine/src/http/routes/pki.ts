import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';

/** `GET /pki/ca.pem` (public): the internal CA that signs the engine's and hosts' certificates. */
export const pkiRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/pki/ca.pem',
    {
      config: { public: true },
      schema: {
        tags: ['system'],
        summary: 'The engine CA certificate (PEM), to trust the engine and its hosts',
        security: [],
        produces: ['application/x-pem-file'],
        response: {
          200: {
            description: 'PEM-encoded X.509 certificate',
            content: { 'application/x-pem-file': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => {
      // Public and immutable for the CA's lifetime, so caching is safe (unlike the rest of the API).
      reply.header('cache-control', 'public, max-age=3600');
      return reply.type('application/x-pem-file').send(deps.caPem);
    },
  );
};
