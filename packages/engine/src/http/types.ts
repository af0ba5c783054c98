import type { Principal } from '../auth/principal';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on every non-public route; null only on public routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (health, login, ca.pem, openapi.json). */
    public?: boolean;
  }
}
