import { type Static, Type } from '@sinclair/typebox';
import { Timestamp, Uuid } from './common';

/** `POST /auth/login`. The username is `user@domain`; the built-in domain is `internal`. */
export const LoginRequest = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 255, examples: ['admin@internal'] }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginResponse = Type.Object(
  {
    token: Type.String({ description: 'Send as `Authorization: Bearer <token>`.' }),
    expires_at: Timestamp,
  },
  { $id: 'LoginResponse', description: 'A new session' },
);
export type LoginResponse = Static<typeof LoginResponse>;

/** `GET /auth/whoami`: the user behind the request's credentials. */
export const Whoami = Type.Object(
  {
    user_id: Uuid,
    username: Type.String({ examples: ['admin@internal'] }),
    is_admin: Type.Boolean(),
    expires_at: Timestamp,
  },
  { $id: 'Whoami', description: 'The authenticated user' },
);
export type Whoami = Static<typeof Whoami>;

/** Name of the session cookie the portal uses instead of the bearer header. */
export const SESSION_COOKIE = 'vireo_session';
/**
 * Unsafe requests (POST, PATCH, PUT, DELETE) authenticated by the session cookie must also carry
 * this header (any non-empty value). Browsers do not let other sites set custom headers on
 * cross-site requests without a CORS preflight, which the engine never grants.
 */
export const CSRF_HEADER = 'x-vireo-csrf';
