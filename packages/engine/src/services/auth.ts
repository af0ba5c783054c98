import type { Logger } from 'pino';
import { verifyAgainstDummy, verifyPassword } from '../auth/passwords';
import { type Principal, parseUsername } from '../auth/principal';
import { generateToken, hashToken, isWellFormedToken } from '../auth/tokens';
import { findTokenSession, insertToken, purgeDeadTokens, revokeToken } from '../db/repositories/tokens';
import { findUserByName } from '../db/repositories/users';
import {
  activeLock,
  clearFailures,
  purgeStaleThrottle,
  recordFailure,
  type ThrottlePolicy,
  type ThrottleScope,
} from '../db/repositories/users-login-throttle';
import type { Db } from '../db/schema';
import { TooManyRequests, Unauthenticated } from '../errors';
import type { AuditRecorder } from './ports';

/** Tuning of logins and tokens. Every field has a default (see DEFAULT_AUTH_SETTINGS). */
export interface AuthSettings {
  /** Lifetime of a token from login; absolute, not sliding (ADR 008). */
  tokenTtlMs: number;
  /**
   * How long a checked token is trusted without asking the database again (0: always ask). Logout
   * on this engine evicts at once; a revocation made by another engine sharing the database takes
   * effect here within this time. Expiry is always checked against the cached `expires_at`.
   */
  tokenCacheMs: number;
  /** Throttle per username: few failures, since one person types one password. */
  usernameThrottle: ThrottlePolicy;
  /** Throttle per client address: more headroom, since many users may share a NAT. */
  addressThrottle: ThrottlePolicy;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  tokenTtlMs: 12 * 60 * 60 * 1000,
  tokenCacheMs: 5000,
  usernameThrottle: { threshold: 5, baseLockMs: 1000, maxLockMs: 15 * 60 * 1000, windowMs: 15 * 60 * 1000 },
  addressThrottle: { threshold: 20, baseLockMs: 1000, maxLockMs: 15 * 60 * 1000, windowMs: 15 * 60 * 1000 },
};

export interface LoginResult {
  token: string;
  expiresAt: Date;
  principal: Principal;
}

export interface AuthService {
  /**
   * Checks the password and issues a token.
   * @throws TooManyRequests `too_many_login_attempts` while the username or address is locked
   * @throws Unauthenticated `invalid_credentials` (same answer whether the user exists or not)
   */
  login(input: { username: string; password: string; clientAddress: string }): Promise<LoginResult>;
  /** Revokes the token the principal authenticated with. */
  logout(principal: Principal): Promise<void>;
  /**
   * Resolves a presented token to its principal.
   * @throws Unauthenticated `invalid_token` (unknown, revoked, malformed, user disabled) or `token_expired`
   */
  authenticate(token: string, via: Principal['via']): Promise<Principal>;
}

// Purging on every login would add a write to each; once in a while is plenty.
const PURGE_EVERY_N_LOGINS = 50;
// Bounds the token cache's memory (~300 bytes an entry); the oldest entries go first.
const TOKEN_CACHE_MAX = 10_000;

interface CachedSession {
  checkedAt: number;
  principal: Omit<Principal, 'via'>;
}

export function createAuthService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  settings?: Partial<AuthSettings>;
}): AuthService {
  const { db, audit } = deps;
  const log = deps.log.child({ module: 'engine:auth' });
  const settings: AuthSettings = { ...DEFAULT_AUTH_SETTINGS, ...deps.settings };
  let logins = 0;
  // Keyed by the token's SHA-256 (base64): every authenticated request would otherwise cost a
  // database round trip before the one it came for.
  const cache = new Map<string, CachedSession>();

  function evictToken(tokenId: string): void {
    for (const [key, entry] of cache) if (entry.principal.tokenId === tokenId) cache.delete(key);
  }

  function remember(key: string, principal: Omit<Principal, 'via'>): void {
    if (settings.tokenCacheMs <= 0) return;
    cache.delete(key);
    if (cache.size >= TOKEN_CACHE_MAX) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(key, { checkedAt: Date.now(), principal });
  }

  function policy(scope: ThrottleScope): ThrottlePolicy {
    return scope === 'username' ? settings.usernameThrottle : settings.addressThrottle;
  }

  async function failed(username: string, clientAddress: string, userId: string | null): Promise<never> {
    const keys: [ThrottleScope, string][] = [
      ['username', username],
      ['address', clientAddress],
    ];
    await db.transaction().execute(async (tx) => {
      for (const [scope, key] of keys) await recordFailure(tx, scope, key, policy(scope));
      await audit.record(tx, {
        kind: 'auth.login_failed',
        severity: 'warning',
        message: `Failed login for ${username} from ${clientAddress}`,
        userId,
        username,
        details: { client_address: clientAddress },
      });
    });
    throw new Unauthenticated('invalid_credentials', 'the username or the password is wrong');
  }

  return {
    async login({ username, password, clientAddress }) {
      const { name, domain } = parseUsername(username);
      const canonical = `${name}@${domain}`;
      const lock = await activeLock(db, [
        { scope: 'username', key: canonical },
        { scope: 'address', key: clientAddress },
      ]);
      if (lock) {
        const seconds = Math.max(1, Math.ceil((lock.getTime() - Date.now()) / 1000));
        throw new TooManyRequests(
          'too_many_login_attempts',
          `too many failed logins; try again in ${seconds} second(s)`,
          seconds,
        );
      }
      const user = await findUserByName(db, domain, name);
      const ok =
        user?.password_hash && !user.disabled
          ? await verifyPassword(password, user.password_hash)
          : await verifyAgainstDummy(password);
      if (!ok || !user) return failed(canonical, clientAddress, user?.id ?? null);

      const token = generateToken();
      const expiresAt = new Date(Date.now() + settings.tokenTtlMs);
      const { id: tokenId } = await db.transaction().execute(async (tx) => {
        const inserted = await insertToken(tx, {
          hash: hashToken(token),
          userId: user.id,
          expiresAt,
          clientAddress,
        });
        await clearFailures(tx, 'username', canonical);
        await audit.record(tx, {
          kind: 'auth.login',
          severity: 'info',
          message: `${canonical} logged in from ${clientAddress}`,
          object: { kind: 'user', id: user.id, name: canonical },
          userId: user.id,
          username: canonical,
          details: { client_address: clientAddress },
        });
        return inserted;
      });
      if (++logins % PURGE_EVERY_N_LOGINS === 1) {
        // Housekeeping must never fail a login.
        Promise.all([
          purgeDeadTokens(db, 24 * 60 * 60 * 1000),
          purgeStaleThrottle(
            db,
            Math.max(settings.usernameThrottle.windowMs, settings.addressThrottle.windowMs),
          ),
        ]).catch((err) => log.warn({ err }, 'purging expired tokens failed'));
      }
      return {
        token,
        expiresAt,
        principal: {
          userId: user.id,
          username: canonical,
          isAdmin: user.is_admin,
          tokenId,
          expiresAt,
          via: 'bearer',
        },
      };
    },

    async logout(principal) {
      evictToken(principal.tokenId);
      await db.transaction().execute(async (tx) => {
        await revokeToken(tx, principal.tokenId);
        await audit.record(tx, {
          kind: 'auth.logout',
          severity: 'info',
          message: `${principal.username} logged out`,
          object: { kind: 'user', id: principal.userId, name: principal.username },
          userId: principal.userId,
          username: principal.username,
        });
      });
    },

    async authenticate(token, via) {
      if (!isWellFormedToken(token)) throw new Unauthenticated('invalid_token', 'the token is not valid');
      const hash = hashToken(token);
      const key = hash.toString('base64');
      const now = Date.now();
      const cached = cache.get(key);
      let principal: Omit<Principal, 'via'>;
      if (cached && now - cached.checkedAt < settings.tokenCacheMs) {
        principal = cached.principal;
      } else {
        const s = await findTokenSession(db, hash);
        if (!s || s.revokedAt || s.disabled) {
          cache.delete(key);
          throw new Unauthenticated('invalid_token', 'the token is not valid; log in again');
        }
        principal = {
          userId: s.userId,
          username: `${s.userName}@${s.userDomain}`,
          isAdmin: s.isAdmin,
          tokenId: s.tokenId,
          expiresAt: s.expiresAt,
        };
        remember(key, principal);
      }
      if (principal.expiresAt.getTime() <= now) {
        cache.delete(key);
        throw new Unauthenticated('token_expired', 'the token has expired; log in again');
      }
      return { ...principal, via };
    },
  };
}
