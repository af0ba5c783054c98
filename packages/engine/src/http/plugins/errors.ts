import type { ErrorBody, ErrorCode, FieldError } from '@vireo/api';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../../db/repositories/pg-errors';
import { MethodNotAllowed, NotFound, TooManyRequests, Unauthenticated, VireoError } from '../../errors';

/** Fastify's own error codes for bad requests, mapped to ours. Anything unlisted with a 4xx
 * status still answers 4xx (`invalid_input`), never 500. */
const FASTIFY_CODES: Record<string, { status: number; code: ErrorCode; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'the request body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'the request says it has a JSON body but it is empty',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    message: 'the request body is too large',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'send the request body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'invalid_input',
    message: 'the Content-Length header does not match the body',
  },
  FST_ERR_BAD_URL: { status: 400, code: 'invalid_url', message: 'the request URL is malformed' },
  FST_ERR_INVALID_URL: { status: 400, code: 'invalid_url', message: 'the request URL is malformed' },
};

function send(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown>,
) {
  const body: ErrorBody = { error: { code, message, details } };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

interface AjvError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** One readable line and structured field errors from Ajv's output. */
function describeValidation(err: FastifyError): { message: string; errors: FieldError[] } {
  const part = err.validationContext ?? 'body';
  const errors: FieldError[] = ((err.validation ?? []) as AjvError[]).map((v) => {
    let path = v.instancePath ?? '';
    let message = v.message ?? 'is invalid';
    if (v.keyword === 'additionalProperties' && typeof v.params?.additionalProperty === 'string') {
      path = `${path}/${v.params.additionalProperty}`;
      message = 'is not a known field';
    } else if (v.keyword === 'required' && typeof v.params?.missingProperty === 'string') {
      path = `${path}/${v.params.missingProperty}`;
      message = 'is required';
    }
    return { in: part, path, message };
  });
  const first = errors[0];
  const where = first ? `${first.in}${first.path ? ` field ${first.path}` : ''}` : part;
  return { message: `invalid ${where}: ${first?.message ?? 'does not match the schema'}`, errors };
}

/**
 * Fastify's `frameworkErrors` hook: failures the router meets before any route or error handler
 * runs (a malformed URL escape, a path parameter over maxParamLength) get our error shape too.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    send(reply, 400, 'invalid_url', 'a path segment of the request URL is too long', {});
  } else if (err.code === 'FST_ERR_BAD_URL') {
    send(reply, 400, 'invalid_url', 'the request URL is malformed', {});
  } else {
    send(reply, 500, 'internal_error', 'the engine failed to route the request', {});
  }
}

/**
 * The one place errors become HTTP answers: VireoErrors by their status and code, Fastify's
 * request errors by {@link FASTIFY_CODES}, schema failures as `invalid_input` with the field path,
 * and everything else as `internal_error` (500) with the message hidden and the error logged.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    // The portal's catch-all (plugins/web.ts) would make every unknown path a 405.
    if ((route.config as { portalFallback?: boolean } | undefined)?.portalFallback) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // `/api/v1/datacenters/:id` → ^/api/v1/datacenters/[^/]+$ ; only to tell 404 from 405.
    const source = route.url
      .split('/')
      .map((seg) =>
        seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    routes.push({ pattern: new RegExp(`^${source}/?$`), methods: new Set(methods) });
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = new Set<string>();
    for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m);
    if (allowed.size > 0) {
      const methods = [...allowed].sort();
      reply.header('allow', methods.join(', '));
      return reply.send(
        new MethodNotAllowed('method_not_allowed', `${request.method} is not allowed here`, {
          details: { allowed: methods },
        }),
      );
    }
    return reply.send(
      new NotFound('route_not_found', `no route ${request.method} ${path.slice(0, 200)}`, {
        details: { method: request.method, path: path.slice(0, 200) },
      }),
    );
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof VireoError) {
      if (err instanceof TooManyRequests) reply.header('retry-after', String(err.retryAfterSeconds));
      if (err instanceof Unauthenticated) reply.header('www-authenticate', 'Bearer realm="vireo"');
      if (err.status >= 500) request.log.error({ err }, err.message);
      return send(reply, err.status, err.code, err.message, err.details);
    }
    if (err.validation) {
      const { message, errors } = describeValidation(err);
      return send(reply, 400, 'invalid_input', message, { errors });
    }
    const known = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (known) return send(reply, known.status, known.code, known.message, {});
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // A client error Fastify or a plugin raised that we have no specific code for.
      request.log.info({ err }, 'unmapped client error');
      return send(reply, status, 'invalid_input', 'the request is not valid', { reason: err.code ?? null });
    }
    if (isDatabaseUnavailable(err)) {
      request.log.error({ err }, 'database unavailable');
      reply.header('retry-after', '5');
      return send(reply, 503, 'database_unavailable', 'the database is not reachable; try again shortly', {
        request_id: request.id,
      });
    }
    request.log.error({ err }, 'request failed');
    return send(reply, 500, 'internal_error', 'the engine failed to handle the request; see its log', {
      request_id: request.id,
    });
  });
}
