import { Type } from '@sinclair/typebox';
import { LoginRequest, LoginResponse, SESSION_COOKIE, Whoami } from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';
import { authorize } from '../../auth/authorize';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

/** Login, logout and whoami. Login is public; it answers the token and sets the session cookie. */
export const authRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { auth } = deps.services;
  const cookieOptions = {
    httpOnly: true,
    secure: deps.cookieSecure,
    sameSite: 'strict' as const,
    path: '/',
  };

  app.post(
    '/auth/login',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Log in with a username and password; returns a bearer token and sets the session cookie',
        security: [],
        body: LoginRequest,
        response: { 200: Type.Ref(LoginResponse), ...errorResponses(400, 401, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const result = await auth.login({
        username: request.body.username,
        password: request.body.password,
        clientAddress: request.ip,
      });
      reply.setCookie(SESSION_COOKIE, result.token, { ...cookieOptions, expires: result.expiresAt });
      return { token: result.token, expires_at: result.expiresAt.toISOString() };
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke the token (or session cookie) the request authenticated with',
        response: { 204: { type: 'null', description: 'Logged out' }, ...errorResponses(...AUTHED) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      authorize(p, 'session.delete', { kind: 'session', id: p.tokenId });
      await auth.logout(p);
      reply.clearCookie(SESSION_COOKIE, cookieOptions);
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/whoami',
    {
      schema: {
        tags: ['auth'],
        summary: 'The user behind the request\u2019s credentials',
        response: { 200: Type.Ref(Whoami), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      authorize(p, 'session.read', { kind: 'session', id: p.tokenId });
      return {
        user_id: p.userId,
        username: p.username,
        is_admin: p.isAdmin,
        expires_at: p.expiresAt.toISOString(),
      };
    },
  );
};
