import type { FastifyInstance } from 'fastify';

/**
 * Headers on every API answer: JSON only, never framed, never cached (answers carry private
 * inventory), no referrer leaks. HSTS only when served over HTTPS. The docs UI (/api/docs) sets its
 * own CSP because it runs scripts.
 */
export function registerSecurityHeaders(app: FastifyInstance, opts: { https: boolean }): void {
  // Built once: this hook runs on every answer, so it sets one prepared object and stays a plain
  // callback (an async hook costs a promise and a microtask turn per request).
  const common: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
    ...(opts.https ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    reply.headers(common);
    // The portal's pages (plugins/web.ts) bring their own policy.
    if (!request.url.startsWith('/api/docs') && !reply.hasHeader('content-security-policy')) {
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    }
    done(null, payload);
  });
}
