import cookie from '@fastify/cookie';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { AppDeps } from './deps';
import { AccessLogController } from './plugins/access-log';
import { registerAuth } from './plugins/auth';
import { frameworkErrors, registerErrorHandling } from './plugins/errors';
import { openApiJson, registerOpenApi } from './plugins/openapi';
import { registerSecurityHeaders } from './plugins/security';
import { registerWeb } from './plugins/web';
import { authRoutes } from './routes/auth';
import { clusterRoutes } from './routes/clusters';
import { vmRoutes } from './routes/vms';
import { datacenterRoutes } from './routes/datacenters';
import { diskRoutes } from './routes/disks';
import { domainRegistrationRoutes } from './routes/domain-registration';
import { eventRoutes } from './routes/events';
import { healthRoutes } from './routes/health';
import { hostRoutes } from './routes/hosts';
import { imageTransferRoutes } from './routes/image-transfers';
import { operationRoutes } from './routes/operations';
import { pkiRoutes } from './routes/pki';
import { snapshotRoutes } from './routes/snapshots';
import { templateRoutes } from './routes/templates';
import { exportRoutes } from './routes/exports';
import { statsRoutes } from './routes/stats';
import { storageDomainRoutes } from './routes/storage-domains';
import './types';
import { SHARED_SCHEMAS } from './schemas';
import { validatorCompiler } from './validation';

/** Largest JSON body by default: inventory objects are small; bulk uploads use other routes. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

// A client may name its request (for log correlation) but only with a harmless token.
const REQUEST_ID_RE = /^[A-Za-z0-9._-]{8,64}$/;

/** Fields pino must never write: tokens, cookies, passwords, wherever they appear. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  '*.password',
  'token',
  '*.token',
];

/**
 * Builds the engine's HTTP application: /api/v1 routes, auth, the one error handler, OpenAPI and
 * the docs UI. Never listens; the caller (main.ts, server.ts, tests) decides how to serve it.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const log = deps.log.child({ module: 'engine:http' }, { redact: { paths: REDACT, censor: '[redacted]' } });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    trustProxy: deps.trustProxy ?? false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Fastify's 'error' default for __proto__ keys in JSON is what we want; make it explicit.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    frameworkErrors,
    logController: new AccessLogController(deps.log.child({ module: 'engine:http' })),
  });

  app.setValidatorCompiler(validatorCompiler);
  // Only JSON bodies: text/plain would reach handlers as a string and fail confusingly.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  deps.consoles?.attach(app.server);
  registerSecurityHeaders(app, { https: deps.cookieSecure });
  app.decorateRequest('principal', null);
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(cookie);
  await registerOpenApi(app, { version: deps.version });

  await app.register(
    async (api) => {
      registerAuth(api, deps.services.auth);
      api.get(
        '/openapi.json',
        { config: { public: true }, schema: { hide: true } },
        async (_request, reply) => reply.type('application/json; charset=utf-8').send(openApiJson(app)),
      );
      await api.register(healthRoutes, { deps });
      await api.register(pkiRoutes, { deps });
      await api.register(authRoutes, { deps });
      await api.register(datacenterRoutes, { deps });
      await api.register(clusterRoutes, { deps });
      await api.register(hostRoutes, { deps });
      await api.register(vmRoutes, { deps });
      await api.register(diskRoutes, { deps });
      await api.register(snapshotRoutes, { deps });
      await api.register(statsRoutes, { deps });
      await api.register(imageTransferRoutes, { deps });
      await api.register(storageDomainRoutes, { deps });
      await api.register(domainRegistrationRoutes, { deps });
      await api.register(templateRoutes, { deps });
      await api.register(exportRoutes, { deps });
      // engine-ops: operations and events routes register here.
      await api.register(operationRoutes, { deps });
      await api.register(eventRoutes, { deps });
    },
    { prefix: '/api/v1' },
  );
  // web-shell: the portal at / (its own CSP; non-API paths fall back to index.html).
  if (deps.webRoot !== undefined) registerWeb(app, { root: deps.webRoot });
  return app;
}
