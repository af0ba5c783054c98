import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens';
import { createTestApp, type TestApp } from '../support/app';

/**
 * Hostile and mistaken requests: each must get the documented 4xx and code — never a 500, never a
 * silent success. The table is the contract clients (CLI, portal) rely on to explain failures.
 */
interface Ctx {
  token: string;
  expired: string;
  revoked: string;
  dcId: string;
  busyDcId: string;
  clusterId: string;
}

interface Case {
  name: string;
  req: (c: Ctx) => InjectOptions;
  status: number;
  code: string;
  /** Extra check on `error.details`. */
  details?: Record<string, unknown>;
}

const UNKNOWN_ID = '7f1c1b0e-2f7a-4c53-9d34-000000000000';
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

function api(method: InjectOptions['method'], url: string, extra: Partial<InjectOptions> = {}) {
  return (c: Ctx): InjectOptions => ({
    method,
    url: `/api/v1${url.replaceAll(':dc', c.dcId).replaceAll(':busy', c.busyDcId).replaceAll(':cl', c.clusterId)}`,
    ...extra,
    headers: { ...bearer(c.token), ...(extra.headers as Record<string, string> | undefined) },
  });
}

const patchDc = (payload: unknown, headers: Record<string, string> = { 'if-match': '"1"' }) =>
  api('PATCH', '/datacenters/:dc', { payload: payload as InjectOptions['payload'], headers });
const postDc = (payload: unknown) =>
  api('POST', '/datacenters', { payload: payload as InjectOptions['payload'] });
const postCluster = (payload: Record<string, unknown>) => (c: Ctx) =>
  api('POST', '/clusters', { payload: { name: 'cl-x', datacenter_id: c.dcId, ...payload } })(c);

const CASES: Case[] = [
  // Authentication
  {
    name: 'no credentials',
    req: (c) => ({ ...api('GET', '/datacenters')(c), headers: {} }),
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'Basic instead of Bearer',
    req: (c) => ({ ...api('GET', '/datacenters')(c), headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'malformed bearer token',
    req: (c) => ({ ...api('GET', '/datacenters')(c), headers: bearer('abc') }),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'unknown bearer token',
    req: (c) => ({ ...api('GET', '/datacenters')(c), headers: bearer('A'.repeat(43)) }),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'expired token',
    req: (c) => ({ ...api('GET', '/datacenters')(c), headers: bearer(c.expired) }),
    status: 401,
    code: 'token_expired',
  },
  {
    name: 'revoked token',
    req: (c) => ({ ...api('GET', '/datacenters')(c), headers: bearer(c.revoked) }),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'unknown session cookie',
    req: (c) => ({
      ...api('GET', '/datacenters')(c),
      headers: { cookie: `vireo_session=${'B'.repeat(43)}` },
    }),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'cookie-authenticated POST without the CSRF header',
    req: (c) => ({ ...postDc({ name: 'csrf' })(c), headers: { cookie: `vireo_session=${c.token}` } }),
    status: 403,
    code: 'csrf_header_required',
  },
  {
    name: 'login with a wrong password',
    req: () => ({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin@internal', password: 'nope' },
    }),
    status: 401,
    code: 'invalid_credentials',
  },
  {
    name: 'login without a password',
    req: () => ({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin@internal' } }),
    status: 400,
    code: 'invalid_input',
    details: { errors: [{ in: 'body', path: '/password', message: 'is required' }] },
  },
  {
    name: 'login with an unknown field',
    req: () => ({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin@internal', password: 'x', remember: true },
    }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'login with an empty JSON body',
    req: () => ({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '',
    }),
    status: 400,
    code: 'invalid_json',
  },
  // Body encoding
  {
    name: 'malformed JSON',
    req: api('POST', '/datacenters', {
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    }),
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'JSON with a __proto__ key',
    req: api('POST', '/datacenters', {
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"p","__proto__":{"admin":true}}',
    }),
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'text/plain body',
    req: api('POST', '/datacenters', { headers: { 'content-type': 'text/plain' }, payload: 'name=x' }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'form-encoded body',
    req: api('POST', '/datacenters', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=x',
    }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'body over 1 MiB',
    req: postDc({ name: 'big', description: 'x'.repeat(1024 * 1024 + 10) }),
    status: 413,
    code: 'payload_too_large',
  },
  { name: 'array instead of object', req: postDc([{ name: 'a' }]), status: 400, code: 'invalid_input' },
  // Schema
  {
    name: 'unknown field',
    req: postDc({ name: 'ok-name', color: 'blue' }),
    status: 400,
    code: 'invalid_input',
    details: { errors: [{ in: 'body', path: '/color', message: 'is not a known field' }] },
  },
  { name: 'name of the wrong type', req: postDc({ name: 42 }), status: 400, code: 'invalid_input' },
  { name: 'missing name', req: postDc({ description: 'x' }), status: 400, code: 'invalid_input' },
  { name: 'empty name', req: postDc({ name: '' }), status: 400, code: 'invalid_input' },
  {
    name: 'name of 65 characters',
    req: postDc({ name: 'a'.repeat(65) }),
    status: 400,
    code: 'invalid_input',
  },
  { name: 'name with a space', req: postDc({ name: 'my dc' }), status: 400, code: 'invalid_input' },
  { name: 'name starting with a dash', req: postDc({ name: '-dc' }), status: 400, code: 'invalid_input' },
  { name: 'name with a slash', req: postDc({ name: 'a/b' }), status: 400, code: 'invalid_input' },
  {
    name: 'description over 4096',
    req: postDc({ name: 'd', description: 'x'.repeat(4097) }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'unknown storage format',
    req: postDc({ name: 'd', storage_format: 'v9' }),
    status: 400,
    code: 'invalid_input',
  },
  { name: 'null name', req: postDc({ name: null }), status: 400, code: 'invalid_input' },
  {
    name: 'overcommit below 100',
    req: postCluster({ memory_overcommit_percent: 99 }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'overcommit above 400',
    req: postCluster({ memory_overcommit_percent: 401 }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'overcommit as a string (no coercion of bodies)',
    req: postCluster({ memory_overcommit_percent: '150' }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'fractional overcommit',
    req: postCluster({ memory_overcommit_percent: 150.5 }),
    status: 400,
    code: 'invalid_input',
  },
  { name: 'unknown CPU type', req: postCluster({ cpu_type: 'Pentium' }), status: 400, code: 'invalid_input' },
  {
    name: 'unknown scheduling policy',
    req: postCluster({ scheduling_policy: 'random' }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'cluster without a data center',
    req: api('POST', '/clusters', { payload: { name: 'c' } }),
    status: 400,
    code: 'invalid_input',
    details: { errors: [{ in: 'body', path: '/datacenter_id', message: 'is required' }] },
  },
  {
    name: 'datacenter_id not a UUID',
    req: postCluster({ datacenter_id: 'dc-1' }),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'cluster in an unknown data center',
    req: postCluster({ datacenter_id: UNKNOWN_ID }),
    status: 404,
    code: 'datacenter_not_found',
  },
  { name: 'empty PATCH', req: patchDc({}), status: 400, code: 'invalid_input' },
  // Ids and routes
  {
    name: 'id that is not a UUID',
    req: api('GET', '/datacenters/not-a-uuid'),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'unknown data center',
    req: api('GET', `/datacenters/${UNKNOWN_ID}`),
    status: 404,
    code: 'datacenter_not_found',
  },
  {
    name: 'unknown cluster',
    req: api('GET', `/clusters/${UNKNOWN_ID}`),
    status: 404,
    code: 'cluster_not_found',
  },
  {
    name: 'PATCH of an unknown data center',
    req: api('PATCH', `/datacenters/${UNKNOWN_ID}`, {
      payload: { description: 'x' },
      headers: { 'if-match': '"1"' },
    }),
    status: 404,
    code: 'datacenter_not_found',
  },
  {
    name: 'DELETE of an unknown cluster',
    req: api('DELETE', `/clusters/${UNKNOWN_ID}`),
    status: 404,
    code: 'cluster_not_found',
  },
  { name: 'unknown route', req: api('GET', '/no-such-thing'), status: 404, code: 'route_not_found' },
  {
    name: 'malformed percent-escape in the path',
    req: api('GET', '/datacenters/%E0%A4%A'),
    status: 400,
    code: 'invalid_url',
  },
  {
    name: 'id of 300 characters',
    req: api('GET', `/datacenters/${'a'.repeat(300)}`),
    status: 400,
    code: 'invalid_url',
  },
  {
    name: 'unknown route outside the API',
    req: () => ({ method: 'GET', url: '/etc/passwd' }),
    status: 404,
    code: 'route_not_found',
  },
  {
    name: 'PUT on a collection',
    req: api('PUT', '/datacenters', { payload: {} }),
    status: 405,
    code: 'method_not_allowed',
    details: { allowed: ['GET', 'HEAD', 'POST'] },
  },
  {
    name: 'DELETE on a collection',
    req: api('DELETE', '/clusters'),
    status: 405,
    code: 'method_not_allowed',
  },
  // Preconditions and conflicts
  {
    name: 'PATCH without If-Match',
    req: patchDc({ description: 'x' }, {}),
    status: 428,
    code: 'precondition_required',
  },
  {
    name: 'PATCH with a stale ETag',
    req: patchDc({ description: 'x' }, { 'if-match': '"99"' }),
    status: 412,
    code: 'etag_mismatch',
  },
  {
    name: 'PATCH with a weak ETag',
    req: patchDc({ description: 'x' }, { 'if-match': 'W/"1"' }),
    status: 412,
    code: 'etag_mismatch',
  },
  {
    name: 'PATCH with garbage If-Match',
    req: patchDc({ description: 'x' }, { 'if-match': 'yes' }),
    status: 412,
    code: 'etag_mismatch',
  },
  {
    name: 'duplicate data center name',
    req: postDc({ name: 'Default' }),
    status: 409,
    code: 'datacenter_name_taken',
  },
  {
    name: 'delete a non-empty data center',
    req: api('DELETE', '/datacenters/:busy'),
    status: 409,
    code: 'datacenter_not_empty',
  },
  // List parameters
  { name: 'limit 0', req: api('GET', '/datacenters?limit=0'), status: 400, code: 'invalid_input' },
  { name: 'limit 501', req: api('GET', '/datacenters?limit=501'), status: 400, code: 'invalid_input' },
  {
    name: 'limit not a number',
    req: api('GET', '/datacenters?limit=ten'),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'cursor not base64url',
    req: api('GET', '/datacenters?cursor=%21%21%21'),
    status: 400,
    code: 'invalid_cursor',
  },
  {
    name: 'cursor not JSON',
    req: api('GET', `/datacenters?cursor=${b64('hello')}`),
    status: 400,
    code: 'invalid_cursor',
  },
  {
    name: 'cursor with a bad id',
    req: api('GET', `/datacenters?cursor=${b64(JSON.stringify({ s: 'name', k: 'a', i: "1' OR '1'='1" }))}`),
    status: 400,
    code: 'invalid_cursor',
  },
  {
    name: 'cursor with a bad timestamp',
    req: api(
      'GET',
      `/datacenters?sort=created_at&cursor=${b64(JSON.stringify({ s: 'created_at', k: 'yesterday', i: UNKNOWN_ID }))}`,
    ),
    status: 400,
    code: 'invalid_cursor',
  },
  {
    name: 'sort by an unknown field',
    req: api('GET', '/datacenters?sort=password_hash'),
    status: 400,
    code: 'invalid_sort',
  },
  {
    name: 'sort with two dashes',
    req: api('GET', '/clusters?sort=--name'),
    status: 400,
    code: 'invalid_sort',
  },
  {
    name: 'unknown query parameter',
    req: api('GET', '/datacenters?colour=red'),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'filter id not a UUID',
    req: api('GET', '/clusters?datacenter_id=x'),
    status: 400,
    code: 'invalid_input',
  },
  {
    name: 'search over 256 characters',
    req: api('GET', `/datacenters?search=${'s'.repeat(257)}`),
    status: 400,
    code: 'invalid_input',
  },
];

describe('bad requests', () => {
  let t: TestApp;
  const ctx = {} as Ctx;
  beforeAll(async () => {
    t = await createTestApp();
    ctx.token = t.token;
    ctx.expired = await t.login();
    await t.db.db
      .updateTable('auth_tokens')
      .set({ expires_at: new Date(Date.now() - 60_000) })
      .where('token_hash', '=', hashToken(ctx.expired))
      .execute();
    ctx.revoked = await t.login();
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(ctx.revoked) });
    const dc = await t.app.inject({
      method: 'POST',
      url: '/api/v1/datacenters',
      headers: bearer(t.token),
      payload: { name: 'target' },
    });
    ctx.dcId = (dc.json() as { id: string }).id;
    const busy = await t.app.inject({
      method: 'POST',
      url: '/api/v1/datacenters',
      headers: bearer(t.token),
      payload: { name: 'busy' },
    });
    ctx.busyDcId = (busy.json() as { id: string }).id;
    const cl = await t.app.inject({
      method: 'POST',
      url: '/api/v1/clusters',
      headers: bearer(t.token),
      payload: { name: 'c1', datacenter_id: ctx.busyDcId },
    });
    ctx.clusterId = (cl.json() as { id: string }).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('has at least 30 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CASES)('$name → $status $code', async (c) => {
    const res = await t.app.inject(c.req(ctx));
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json() as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect({ status: res.statusCode, code: body.error?.code }).toEqual({ status: c.status, code: c.code });
    expect(body.error.message.length).toBeGreaterThan(0);
    expect(typeof body.error.details).toBe('object');
    if (c.details) expect(body.error.details).toMatchObject(c.details);
  });

  it('changed nothing: the target data center is as created', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/datacenters/${ctx.dcId}`,
      headers: bearer(t.token),
    });
    expect(res.headers.etag).toBe('"1"');
    expect(res.json()).toMatchObject({ name: 'target', description: '' });
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/datacenters?limit=500',
      headers: bearer(t.token),
    });
    expect((list.json() as { items: { name: string }[] }).items.map((d) => d.name).sort()).toEqual(
      ['Default', 'busy', 'target'].sort(),
    );
  });
});
