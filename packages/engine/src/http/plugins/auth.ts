import { CSRF_HEADER, SESSION_COOKIE } from '@vireo/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal';
import { Forbidden, Unauthenticated } from '../../errors';
import type { AuthService } from '../../services';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new Unauthenticated('invalid_token', 'the Authorization header must be "Bearer <token>"');
  }
  return match[1];
}

/**
 * Authenticates every route not marked `config.public`: a bearer token, or the session cookie.
 * Cookie-authenticated unsafe requests must also carry the `X-Vireo-CSRF` header — a browser only
 * sends custom headers cross-site after a CORS preflight, which the engine never grants. Bearer
 * requests are exempt: browsers never attach them on their own.
 */
export function registerAuth(app: FastifyInstance, auth: AuthService): void {
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public) return;
    // Unknown routes fall through to the 404/405 handler without a token check.
    if (request.routeOptions.url === undefined) return;
    const bearer = bearerToken(request);
    let principal: Principal;
    if (bearer !== undefined) {
      principal = await auth.authenticate(bearer, 'bearer');
    } else {
      const cookie = request.cookies?.[SESSION_COOKIE];
      if (!cookie) {
        throw new Unauthenticated('unauthenticated', 'log in first: send "Authorization: Bearer <token>"');
      }
      principal = await auth.authenticate(cookie, 'cookie');
      if (!SAFE_METHODS.has(request.method) && !request.headers[CSRF_HEADER]) {
        throw new Forbidden(
          'csrf_header_required',
          `requests authenticated by the session cookie must send the ${CSRF_HEADER} header`,
          { details: { header: CSRF_HEADER } },
        );
      }
    }
    // The access log line names the user (plugins/access-log.ts); no per-request child logger.
    request.principal = principal;
  });
}

/** The request's principal; only null on public routes, where it must not be asked for. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Unauthenticated('unauthenticated', 'log in first');
  return request.principal;
}
