import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords';
import { hashToken } from '../../src/auth/tokens';
import { upsertUserPassword } from '../../src/db/repositories/users';
import { buildApp } from '../../src/http/app';
import { createTestApp, TEST_ADMIN_PASSWORD, TEST_CA_PEM, type TestApp } from '../support/app';

function cookieOf(setCookie: string | string[] | undefined): string {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const c = all.find((v) => v.startsWith('vireo_session='));
  if (!c) throw new Error(`no session cookie in ${JSON.stringify(setCookie)}`);
  return c;
}

describe('authentication', () => {
  let t: TestApp;
  const logLines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    t = await createTestApp({
      app: { log: pino({ level: 'debug' }, sink) },
      // A first lock long enough that a loaded CI machine still checks it while it holds (the
      // default 1 s can expire between the fifth failure and the next request).
      services: {
        auth: {
          usernameThrottle: { threshold: 5, baseLockMs: 4000, maxLockMs: 60_000, windowMs: 15 * 60 * 1000 },
        },
      },
    });
    await upsertUserPassword(t.db.db, {
      domain: 'internal',
      name: 'viewer',
      passwordHash: await hashPassword('viewer-password'),
      isAdmin: false,
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = (username: string, password: string, remoteAddress = '127.0.0.1') =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username, password },
      remoteAddress,
    });

  it('logs in, answers a token and a strict session cookie, and whoami names the user', async () => {
    const before = Date.now();
    const res = await login('admin@internal', TEST_ADMIN_PASSWORD);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { token: string; expires_at: string };
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ttl = Date.parse(body.expires_at) - before;
    expect(ttl).toBeGreaterThan(12 * 3600_000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(12 * 3600_000 + 60_000);
    const cookie = cookieOf(res.headers['set-cookie']);
    expect(cookie).toContain(`vireo_session=${body.token}`);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);

    const who = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      headers: t.auth(body.token),
    });
    expect(who.statusCode).toBe(200);
    expect(who.json()).toMatchObject({
      username: 'admin@internal',
      is_admin: true,
      expires_at: body.expires_at,
    });
    // Only the hash is stored.
    const rows = await t.db.db.selectFrom('auth_tokens').select('token_hash').execute();
    expect(rows.some((r) => r.token_hash.toString('base64url') === body.token)).toBe(false);
  });

  it('accepts the username in any case and without the domain', async () => {
    expect((await login('ADMIN@Internal', TEST_ADMIN_PASSWORD)).statusCode).toBe(200);
    expect((await login('admin', TEST_ADMIN_PASSWORD)).statusCode).toBe(200);
  });

  it('gives the same answer for a wrong password and an unknown user', async () => {
    const wrong = await login('admin@internal', 'not-the-password', '10.9.0.1');
    const unknown = await login('nobody@internal', 'whatever', '10.9.0.1');
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'invalid_credentials' } });
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(wrong.json()).toEqual(unknown.json());
    const failed = await t.db.db
      .selectFrom('events')
      .select('kind')
      .where('kind', '=', 'auth.login_failed')
      .execute();
    expect(failed.length).toBeGreaterThanOrEqual(2);
    // A successful login from there clears nothing but does not fail either.
    expect((await login('admin@internal', TEST_ADMIN_PASSWORD, '10.9.0.1')).statusCode).toBe(200);
  });

  it('rejects an expired token with token_expired', async () => {
    const token = await t.login();
    await t.db.db
      .updateTable('auth_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', hashToken(token))
      .execute();
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/datacenters', headers: t.auth(token) });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'token_expired' } });
    expect(res.headers['www-authenticate']).toContain('Bearer');
  });

  it('logout revokes exactly the token used and clears the cookie', async () => {
    const a = await t.login();
    const b = await t.login();
    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: t.auth(a) });
    expect(out.statusCode).toBe(204);
    expect(cookieOf(out.headers['set-cookie'])).toMatch(/^vireo_session=;.*Expires=Thu, 01 Jan 1970/);
    const revoked = await t.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: t.auth(a) });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json()).toMatchObject({ error: { code: 'invalid_token' } });
    const other = await t.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: t.auth(b) });
    expect(other.statusCode).toBe(200);
  });

  it('authenticates by cookie, and requires the CSRF header for unsafe cookie requests only', async () => {
    const res = await login('admin@internal', TEST_ADMIN_PASSWORD);
    const cookie = cookieOf(res.headers['set-cookie']).split(';')[0]!;
    const get = await t.app.inject({ method: 'GET', url: '/api/v1/datacenters', headers: { cookie } });
    expect(get.statusCode).toBe(200);

    const noCsrf = await t.app.inject({
      method: 'POST',
      url: '/api/v1/datacenters',
      headers: { cookie },
      payload: { name: 'cookie-dc' },
    });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json()).toMatchObject({ error: { code: 'csrf_header_required' } });
    const dcs = await t.app.inject({
      method: 'GET',
      url: '/api/v1/datacenters?search=cookie-dc',
      headers: { cookie },
    });
    expect((dcs.json() as { items: unknown[] }).items).toHaveLength(0);

    const withCsrf = await t.app.inject({
      method: 'POST',
      url: '/api/v1/datacenters',
      headers: { cookie, 'x-vireo-csrf': '1' },
      payload: { name: 'cookie-dc' },
    });
    expect(withCsrf.statusCode).toBe(201);
    const bearer = await t.app.inject({
      method: 'POST',
      url: '/api/v1/datacenters',
      headers: t.auth(),
      payload: { name: 'bearer-dc' },
    });
    expect(bearer.statusCode).toBe(201);
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { cookie, 'x-vireo-csrf': '1' },
    });
    expect(logout.statusCode).toBe(204);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/datacenters', headers: { cookie } })).statusCode,
    ).toBe(401);
  });

  it('lets a non-admin user log in and see itself, but nothing else', async () => {
    const res = await login('viewer@internal', 'viewer-password');
    expect(res.statusCode).toBe(200);
    const token = (res.json() as { token: string }).token;
    const who = await t.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: t.auth(token) });
    expect(who.json()).toMatchObject({ username: 'viewer@internal', is_admin: false });
    for (const [method, url, payload] of [
      ['GET', '/api/v1/datacenters', undefined],
      ['GET', '/api/v1/clusters', undefined],
      ['POST', '/api/v1/datacenters', { name: 'nope' }],
    ] as const) {
      const r = await t.app.inject({ method, url, headers: t.auth(token), ...(payload ? { payload } : {}) });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(r.json()).toMatchObject({ error: { code: 'forbidden' } });
    }
    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: t.auth(token) });
    expect(out.statusCode).toBe(204);
  });

  it('throttles a username after 5 failures, across engines sharing the database, then lets it in', async () => {
    // The second engine is built first: building an app can take seconds on a loaded machine, and
    // the lock must still hold when it is asked.
    const other = await buildApp({
      db: t.db.db,
      log: pino({ level: 'silent' }),
      version: 'test',
      caPem: TEST_CA_PEM,
      health: async () => ({
        status: 'ok',
        version: 'test',
        database: 'ok',
        schema: { current: 0, latest: 0, pending: 0 },
      }),
      cookieSecure: false,
      services: t.services,
      events: t.events,
      operations: t.operations,
    });
    let locked: Awaited<ReturnType<typeof login>>;
    try {
      for (let i = 0; i < 5; i++) {
        const r = await login('admin@internal', `wrong-${i}`, '10.0.0.5');
        expect(r.statusCode).toBe(401);
      }
      // Locked: even the right password is refused without being checked.
      locked = await login('admin@internal', TEST_ADMIN_PASSWORD, '10.0.0.6');
      expect(locked.statusCode).toBe(429);
      expect(locked.json()).toMatchObject({ error: { code: 'too_many_login_attempts' } });
      expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);

      // The second engine on the same database sees the same lock.
      const r = await other.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'admin@internal', password: TEST_ADMIN_PASSWORD },
      });
      expect(r.statusCode).toBe(429);
    } finally {
      await other.close();
    }

    const wait = Number(locked.headers['retry-after']) * 1000;
    await new Promise((r) => setTimeout(r, wait + 100));
    const ok = await login('admin@internal', TEST_ADMIN_PASSWORD, '10.0.0.6');
    expect(ok.statusCode).toBe(200);
    // Success forgets the username's failures: one more mistake does not lock again.
    expect((await login('admin@internal', 'wrong-again', '10.0.0.6')).statusCode).toBe(401);
    expect((await login('admin@internal', TEST_ADMIN_PASSWORD, '10.0.0.6')).statusCode).toBe(200);
  });

  it('never writes passwords, tokens or cookies to the log', async () => {
    const res = await login('admin@internal', TEST_ADMIN_PASSWORD);
    const token = (res.json() as { token: string }).token;
    await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      headers: { cookie: `vireo_session=${token}` },
    });
    await t.app.inject({ method: 'GET', url: '/api/v1/nope', headers: t.auth(token) });
    const all = logLines.join('');
    expect(all.length).toBeGreaterThan(0);
    expect(all).toContain('/api/v1/auth/login');
    // One access line per request, naming the user once authenticated.
    const access = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request');
    expect(access.find((l) => l.url === '/api/v1/auth/whoami')).toMatchObject({
      method: 'GET',
      status: 200,
      user: 'admin@internal',
    });
    expect(all).not.toContain(TEST_ADMIN_PASSWORD);
    expect(all).not.toContain('viewer-password');
    expect(all).not.toContain(token);
  });
});

describe('throttling by client address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      services: {
        auth: {
          addressThrottle: { threshold: 3, baseLockMs: 60_000, maxLockMs: 60_000, windowMs: 60_000 },
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('locks an address that sprays many usernames, but not other addresses', async () => {
    const login = (username: string, password: string, remoteAddress: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username, password },
        remoteAddress,
      });
    for (const u of ['a', 'b', 'c'])
      expect((await login(`${u}@internal`, 'x', '192.0.2.9')).statusCode).toBe(401);
    const locked = await login('admin@internal', TEST_ADMIN_PASSWORD, '192.0.2.9');
    expect(locked.statusCode).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(50);
    expect((await login('admin@internal', TEST_ADMIN_PASSWORD, '192.0.2.10')).statusCode).toBe(200);
  });
});

describe('token cache', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ services: { auth: { tokenCacheMs: 300 } } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('honours a revocation made by another engine within tokenCacheMs', async () => {
    const token = await t.login();
    const whoami = () => t.app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: t.auth(token) });
    expect((await whoami()).statusCode).toBe(200);
    // What another engine's logout does to the shared database.
    await t.db.db
      .updateTable('auth_tokens')
      .set({ revoked_at: new Date() })
      .where('token_hash', '=', hashToken(token))
      .execute();
    await new Promise((r) => setTimeout(r, 350));
    const res = await whoami();
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'invalid_token' } });
  });
});
