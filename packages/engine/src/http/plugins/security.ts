import type { FastifyInstance } from 'fastify';

/**
 * Headers on every API answer: JSON only, never framed, never cached (answers carry private
 * inventory), no referrer leaks. HSTS only when served over HTTPS. The docs UI (/api/docs) sets its
 * own CSP because it runs scripts.
 */
export function registerSecurityHeaders(app: FastifyInstance, opts: { https: boolean }): void {
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (opts.https) reply.header('strict-transport-security', 'max-age=31536000');
    if (!request.url.startsWith('/api/docs')) {
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    }
    return payload;
  });
}
