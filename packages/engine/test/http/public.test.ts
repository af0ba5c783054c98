import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderOpenApiDocument } from '../../src/http/openapi-document';
import { createTestApp, TEST_CA_PEM, type TestApp } from '../support/app';

const COMMITTED = fileURLToPath(new URL('../../../../docs/api/openapi.json', import.meta.url));

describe('public endpoints, headers and the OpenAPI document', () => {
  let t: TestApp;
  let healthy = true;
  beforeAll(async () => {
    t = await createTestApp({
      app: {
        health: async () => ({
          status: healthy ? 'ok' : 'degraded',
          version: '9.9.9',
          database: healthy ? 'ok' : 'unavailable',
          schema: { current: 5, latest: 5, pending: 0 },
        }),
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves health without a token, 503 when degraded', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/api/v1/health' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({
      status: 'ok',
      version: '9.9.9',
      database: 'ok',
      schema: { current: 5, latest: 5, pending: 0 },
    });
    healthy = false;
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/health' });
    healthy = true;
    expect(bad.statusCode).toBe(503);
    expect(bad.json()).toMatchObject({ status: 'degraded', database: 'unavailable' });
  });

  it('serves the CA certificate as PEM without a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/pki/ca.pem' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-pem-file/);
    expect(res.body).toBe(TEST_CA_PEM);
  });

  it('serves the OpenAPI document and the docs UI without a token', async () => {
    const doc = await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(doc.statusCode).toBe(200);
    const spec = doc.json() as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.paths['/datacenters/{id}']?.patch).toBeDefined();
    // Public routes say so; the rest inherit the global bearer/cookie requirement.
    expect(spec.paths['/auth/login']?.post?.security).toEqual([]);
    expect(spec.paths['/datacenters']?.get?.security).toBeUndefined();
    const ui = await t.app.inject({ method: 'GET', url: '/api/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/^text\/html/);
  });

  it('requires a token everywhere else', async () => {
    for (const url of ['/api/v1/datacenters', '/api/v1/clusters', '/api/v1/auth/whoami']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(401);
    }
    const logout = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout' });
    expect(logout.statusCode).toBe(401);
  });

  it('sends security headers and a request id, and honours a safe client request id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/datacenters', headers: t.auth() });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const named = await t.app.inject({
      method: 'GET',
      url: '/api/v1/health',
      headers: { 'x-request-id': 'cli-req-12345' },
    });
    expect(named.headers['x-request-id']).toBe('cli-req-12345');
    const hostile = await t.app.inject({
      method: 'GET',
      url: '/api/v1/health',
      headers: { 'x-request-id': 'a\nlevel=fatal injected' },
    });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('docs/api/openapi.json is up to date (run `npm run openapi` after changing a route or schema)', async () => {
    const committed = fs.existsSync(COMMITTED) ? fs.readFileSync(COMMITTED, 'utf8') : '';
    expect(committed, 'docs/api/openapi.json is stale: run `npm run openapi`').toBe(
      await renderOpenApiDocument(),
    );
  });
});
