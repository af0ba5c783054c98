import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/support/app';
import { negotiateEncoding, PORTAL_CSP, resolveWebRoot } from './web';

describe('negotiateEncoding', () => {
  it.each([
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip;q=0.5', 'gzip'],
    ['*', 'br'],
    ['identity', 'identity'],
    ['gzip;q=0, br;q=0', 'identity'],
    [undefined, 'identity'],
  ] as const)('%s → %s', (header, expected) => {
    expect(negotiateEncoding(header, ['identity', 'br', 'gzip'])).toBe(expected);
  });

  it('only offers encodings that were pre-compressed', () => {
    expect(negotiateEncoding('br, gzip', ['identity', 'gzip'])).toBe('gzip');
    expect(negotiateEncoding('br, gzip', ['identity'])).toBe('identity');
  });
});

describe('resolveWebRoot', () => {
  it('takes VIREO_WEB_ROOT as given', () => {
    expect(resolveWebRoot({ VIREO_WEB_ROOT: '/srv/portal' })).toBe('/srv/portal');
  });
});

const SCRIPT = `console.log(${JSON.stringify('x'.repeat(2000))});\n`;
const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/index-AbCd1234.js"></script></head><body><div id="root"></div></body></html>\n';

describe('the portal at /', () => {
  let dir: string;
  let t: TestApp;
  let bare: TestApp;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-web-test-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), INDEX);
    const js = path.join(dir, 'assets', 'index-AbCd1234.js');
    fs.writeFileSync(js, SCRIPT);
    fs.writeFileSync(`${js}.br`, brotliCompressSync(SCRIPT));
    fs.writeFileSync(`${js}.gz`, gzipSync(SCRIPT));
    fs.writeFileSync(path.join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    t = await createTestApp({ app: { webRoot: dir } });
    bare = await createTestApp({ app: { webRoot: path.join(dir, 'not-built') } });
  });

  afterAll(async () => {
    await t?.close();
    await bare?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / with the portal CSP and no caching', async () => {
    const res = await t.app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(PORTAL_CSP);
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toBe(INDEX);
  });

  it('answers index.html for deep links (the browser router shows them)', async () => {
    for (const url of ['/vms', '/vms/6f1c2a50-5b4e-4b8e-9a53-8f0f8b2f0d11?tab=disks', '/storage/domains/']) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe(INDEX);
    }
  });

  it('serves hashed assets pre-compressed and cached for a year', async () => {
    const br = await t.app.inject({
      url: '/assets/index-AbCd1234.js',
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    });
    expect(br.statusCode).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(br.headers.vary).toBe('accept-encoding');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(SCRIPT);

    const gz = await t.app.inject({
      url: '/assets/index-AbCd1234.js',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(SCRIPT);

    const plain = await t.app.inject({
      url: '/assets/index-AbCd1234.js',
      headers: { 'accept-encoding': '' },
    });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(SCRIPT);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await t.app.inject({ url: '/favicon.svg' });
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('no-cache');
    const again = await t.app.inject({
      url: '/favicon.svg',
      headers: { 'if-none-match': first.headers.etag },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers 404 for a missing asset instead of the HTML page', async () => {
    const res = await t.app.inject({ url: '/assets/index-Gone0000.js' });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('<html');
  });

  it('leaves /api paths to the API: unknown ones stay JSON 404s with the API CSP', async () => {
    const res = await t.app.inject({ url: '/api/v1/no-such-thing' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'route_not_found' } });
    const health = await t.app.inject({ url: '/api/v1/health' });
    expect(health.statusCode).toBe(200);
    expect(health.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('still runs without a built portal, and / says how to build it', async () => {
    const res = await bare.app.inject({ url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toContain('npm run build');
    const health = await bare.app.inject({ url: '/api/v1/health' });
    expect(health.statusCode).toBe(200);
  });
});
