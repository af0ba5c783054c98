import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { SESSION_COOKIE } from '@vireo/api';
import type { FastifyInstance } from 'fastify';

/**
 * OpenAPI 3.1 generated from the route schemas (the TypeBox schemas of @vireo/api), served at
 * `/api/v1/openapi.json`, with a browsable UI at `/api/docs`. Must be registered before the routes.
 */
export async function registerOpenApi(app: FastifyInstance, opts: { version: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Vireo API',
        version: opts.version,
        description:
          'REST API of the Vireo engine. JSON, snake_case fields, UUID ids, RFC 3339 times. ' +
          'Errors are {"error":{"code","message","details"}}; lists are {"items","next_cursor"}.',
      },
      servers: [{ url: '/api/v1' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Token from POST /auth/login' },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: 'Session cookie set by POST /auth/login; unsafe methods also need X-Vireo-CSRF',
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
      tags: [
        { name: 'system', description: 'Health and PKI' },
        { name: 'auth', description: 'Login, logout, identity' },
        { name: 'datacenters', description: 'Data centers' },
        { name: 'clusters', description: 'Clusters' },
      ],
    },
    // Shared schemas become components/schemas/<$id> rather than def-N.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    // Paths are documented relative to the server URL (/api/v1), as clients call them.
    transform: ({ schema, url }) => ({
      schema,
      url: url.startsWith('/api/v1/') ? url.slice('/api/v1'.length) : url,
    }),
  });
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: true,
    uiConfig: { deepLinking: true, url: '/api/v1/openapi.json' },
  });
}

/** The document as served and committed: stable key order, 2-space indent, trailing newline. */
export function openApiJson(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
