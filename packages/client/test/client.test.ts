import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiError,
  isEphemeral,
  type Operation,
  operationProgressOf,
  VireoClient,
  VireoClientError,
} from '../src/index';
import {
  makeTlsFixture,
  sendJson,
  startHttpsServer,
  type TestServer,
  type TlsFixture,
} from './support/tls-fixture';

let tls: TlsFixture;
let otherCa: TlsFixture;
const open: { server?: TestServer; client?: VireoClient }[] = [];

beforeAll(() => {
  tls = makeTlsFixture();
  otherCa = makeTlsFixture('Some Other CA');
});

afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.client?.close();
    await o.server?.close();
  }
});

async function setup(handler: Parameters<typeof startHttpsServer>[1], token?: string) {
  const server = await startHttpsServer(tls, handler);
  const client = new VireoClient({ baseUrl: server.url, ca: tls.caPem, token, timeoutMs: 5000 });
  open.push({ server, client });
  return { server, client };
}

describe('VireoClient transport and TLS', () => {
  it('logs in, keeps the bearer token and never echoes the password in errors', async () => {
    const { server, client } = await setup((req, res, body) => {
      if (req.url === '/api/v1/auth/login') {
        const { password } = JSON.parse(body);
        if (password === 'right')
          return sendJson(res, 200, { token: 'tok-1', expires_at: '2030-01-01T00:00:00Z' });
        return sendJson(res, 401, {
          error: { code: 'invalid_credentials', message: 'wrong user name or password' },
        });
      }
      if (req.url === '/api/v1/datacenters/abc') return sendJson(res, 200, { id: 'abc', name: 'dc1' });
      sendJson(res, 404, { error: { code: 'route_not_found', message: 'no route' } });
    });
    const err = await client.login('admin@internal', 's3cret-wrong').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 401,
      code: 'invalid_credentials',
      message: 'wrong user name or password',
    });
    expect(String(err.stack)).not.toContain('s3cret-wrong');

    await expect(client.login('admin@internal', 'right')).resolves.toMatchObject({ token: 'tok-1' });
    expect(client.token).toBe('tok-1');
    await expect(client.datacenters.get('abc')).resolves.toEqual({ id: 'abc', name: 'dc1' });
    expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer tok-1');
  });

  it('trusts only the CA it was given', async () => {
    const server = await startHttpsServer(tls, (_req, res) => sendJson(res, 200, { status: 'ok' }));
    const wrong = new VireoClient({ baseUrl: server.url, ca: otherCa.caPem });
    const none = new VireoClient({ baseUrl: server.url });
    const right = new VireoClient({ baseUrl: `${server.url}/api/v1/`, ca: tls.caPem });
    open.push({ server, client: wrong }, { client: none }, { client: right });
    await expect(right.health()).resolves.toEqual({ status: 'ok' });
    for (const c of [wrong, none]) {
      const err = await c.health().catch((e) => e);
      expect(err).toBeInstanceOf(VireoClientError);
      expect(err.code).toBe('tls_error');
      expect(err.message).toContain(server.url);
    }
  });

  it('reports refused connections and non-JSON error pages with codes', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await expect(client.health()).rejects.toMatchObject({ code: 'http_502', status: 502 });
    const url = server.url;
    await server.close();
    const gone = new VireoClient({ baseUrl: url, ca: tls.caPem });
    open.push({ client: gone });
    await expect(gone.health()).rejects.toMatchObject({ code: 'connection_failed' });
  });

  it('refuses URLs with credentials', () => {
    expect(() => new VireoClient({ baseUrl: 'https://u:p@engine:8443' })).toThrow(/must not contain/);
  });
});

describe('resources', () => {
  it('paginates by next_cursor and resolves names exactly', async () => {
    const all = Array.from({ length: 5 }, (_, i) => ({
      id: `00000000-0000-4000-8000-00000000000${i}`,
      name: `dc${i}`,
    }));
    all.push({ id: '00000000-0000-4000-8000-000000000009', name: 'dc1-b' });
    const { server, client } = await setup((req, res) => {
      const url = new URL(req.url ?? '', 'https://x');
      const search = url.searchParams.get('search') ?? '';
      const items = all.filter((d) => d.name.includes(search));
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const next = start + 2 < items.length ? String(start + 2) : null;
      sendJson(res, 200, { items: items.slice(start, start + 2), next_cursor: next });
    });
    const names: string[] = [];
    for await (const dc of client.datacenters.paginate({ sort: 'name' })) names.push(dc.name);
    expect(names).toEqual(['dc0', 'dc1', 'dc2', 'dc3', 'dc4', 'dc1-b']);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/api/v1/datacenters?sort=name',
      '/api/v1/datacenters?sort=name&cursor=2',
      '/api/v1/datacenters?sort=name&cursor=4',
    ]);
    await expect(client.datacenters.resolve('dc1')).resolves.toMatchObject({ name: 'dc1' });
    await expect(client.datacenters.resolve('dc')).rejects.toMatchObject({
      code: 'datacenter_not_found',
      status: 404,
    });
    await expect(client.datacenters.names('dc1')).resolves.toEqual(['dc1', 'dc1-b']);
  });

  it('sends If-Match on update and returns 202 answers as accepted operations', async () => {
    const { server, client } = await setup((req, res) => {
      if (req.method === 'GET') return sendJson(res, 200, { id: 'x', name: 'a' }, { etag: '"v3"' });
      if (req.method === 'PATCH') return sendJson(res, 200, { id: 'x', name: 'b' }, { etag: '"v4"' });
      sendJson(
        res,
        202,
        { operation: { id: 'op1', type: 'datacenter.delete', state: 'pending' } },
        {
          location: '/api/v1/operations/op1',
        },
      );
    });
    const current = await client.datacenters.getVersioned('x');
    expect(current.etag).toBe('"v3"');
    const updated = await client.datacenters.update('x', { name: 'b' }, { ifMatch: current.etag });
    expect(updated).toMatchObject({ kind: 'done', value: { name: 'b' }, etag: '"v4"' });
    expect(server.requests[1]?.headers['if-match']).toBe('"v3"');
    expect(JSON.parse(server.requests[1]?.body ?? '')).toEqual({ name: 'b' });
    const del = await client.datacenters.delete('x');
    expect(del).toMatchObject({ kind: 'accepted', operation: { id: 'op1', state: 'pending' } });
  });
});

describe('waitForOperation', () => {
  it('long-polls with ?wait and reports each change until the operation ends', async () => {
    const states: Partial<Operation>[] = [
      { state: 'pending', progress: 0 },
      { state: 'running', progress: 0.5 },
      { state: 'failed', progress: 0.5, error: { code: 'disk_full', message: 'no space left' } },
    ];
    let i = 0;
    const { server, client } = await setup((_req, res) => {
      const s = states[Math.min(i++, states.length - 1)];
      setTimeout(() => sendJson(res, 200, { id: 'op1', type: 't', ...s }), 30);
    });
    const seen: string[] = [];
    const final = await client.waitForOperation('op1', {
      onProgress: (op) => seen.push(`${op.state}:${op.progress}`),
    });
    expect(final).toMatchObject({ state: 'failed', error: { code: 'disk_full' } });
    expect(seen).toEqual(['pending:0', 'running:0.5', 'failed:0.5']);
    expect(server.requests.every((r) => /^\/api\/v1\/operations\/op1\?wait=\d+$/.test(r.url))).toBe(true);
  });

  it('gives up with operation_timeout and stops on abort', async () => {
    const { client } = await setup((_req, res) => {
      setTimeout(() => sendJson(res, 200, { id: 'op2', type: 't', state: 'running', progress: 0.1 }), 50);
    });
    await expect(client.waitForOperation('op2', { timeoutMs: 600 })).rejects.toMatchObject({
      code: 'operation_timeout',
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await expect(client.waitForOperation('op2', { signal: ac.signal })).rejects.toMatchObject({
      code: 'aborted',
    });
  });
});

describe('streamEvents', () => {
  it('resumes with Last-Event-ID after the stream drops', async () => {
    const { server, client } = await setup((req, res) => {
      if (req.headers.authorization !== 'Bearer t') {
        return sendJson(res, 401, { error: { code: 'unauthenticated', message: 'log in first' } });
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const last = Number(req.headers['last-event-id'] ?? 0);
      res.write('retry: 50\n: hello\n\n');
      for (let id = last + 1; id <= last + 2; id++) {
        res.write(
          `id: ${id}\nevent: datacenter.created\ndata: ${JSON.stringify({ id: String(id), kind: 'datacenter.created' })}\n\n`,
        );
      }
      res.end();
    }, 't');
    const ac = new AbortController();
    const ids: string[] = [];
    const reconnects: number[] = [];
    for await (const ev of client.events.stream({
      kinds: ['datacenter.created'],
      signal: ac.signal,
      onReconnect: ({ attempt }) => reconnects.push(attempt),
    })) {
      ids.push(ev.id);
      expect(ev.kind).toBe('datacenter.created');
      if (ids.length === 5) ac.abort();
    }
    expect(ids).toEqual(['1', '2', '3', '4', '5']);
    expect(reconnects.length).toBeGreaterThanOrEqual(2);
    expect(server.requests[0]?.url).toBe('/api/v1/events/stream?kind=datacenter.created');
    expect(server.requests[1]?.headers['last-event-id']).toBe('2');
    expect(server.requests[2]?.headers['last-event-id']).toBe('4');

    client.setToken('bad');
    const it = client.events.stream({ signal: AbortSignal.timeout(5000) });
    await expect(it.next()).rejects.toMatchObject({ code: 'unauthenticated', status: 401 });
  });

  it('yields id-less progress frames only when asked, and never resumes from them', async () => {
    const OP = '0b3c54d4-29a5-4c7a-9f0e-2c8f6a1d7e01';
    const progress = (p: number) =>
      `event: operation.progress\ndata: ${JSON.stringify({ id: OP, type: 'vm.start', target_kind: 'vm', target_id: null, progress: p, message: 'booting' })}\n\n`;
    const { server, client } = await setup((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const last = Number(req.headers['last-event-id'] ?? 0);
      res.write('retry: 20\n\n');
      res.write(progress(0.25));
      res.write(
        `id: ${last + 1}\nevent: vm.started\ndata: ${JSON.stringify({ id: String(last + 1), kind: 'vm.started' })}\n\n`,
      );
      res.write(progress(0.5));
      res.write('event: something.new\ndata: not json\n\n');
      res.end();
    }, 't');

    const seen: string[] = [];
    const ac = new AbortController();
    for await (const item of client.events.stream({ signal: ac.signal, ephemeral: true })) {
      if (isEphemeral(item)) seen.push(`${item.kind} ${operationProgressOf(item)?.progress}`);
      else seen.push(`${item.kind} #${item.id}`);
      if (seen.length === 6) ac.abort();
    }
    expect(seen).toEqual([
      'operation.progress 0.25',
      'vm.started #1',
      'operation.progress 0.5',
      'operation.progress 0.25',
      'vm.started #2',
      'operation.progress 0.5',
    ]);
    // The resume id is the last audit event's, never the operation id in a progress frame's data.
    expect(server.requests[1]?.headers['last-event-id']).toBe('1');

    // Without `ephemeral` the same stream yields only the audit events.
    const plain: string[] = [];
    const ac2 = new AbortController();
    for await (const ev of client.events.stream({ signal: ac2.signal })) {
      plain.push(ev.id);
      if (plain.length === 2) ac2.abort();
    }
    expect(plain).toEqual(['1', '2']);
    expect(server.requests.at(-1)?.headers['last-event-id']).toBe('1');
  });

  it('operationProgressOf checks the frame', () => {
    const frame = (kind: string, data: unknown) => ({ ephemeral: true as const, kind, data });
    expect(operationProgressOf(frame('operation.progress', { id: 'a', type: 't', progress: 2 }))).toEqual({
      id: 'a',
      type: 't',
      target_kind: null,
      target_id: null,
      progress: 1,
      message: null,
    });
    expect(
      operationProgressOf(frame('operation.progress', { id: 'a', type: 't', progress: 'x' })),
    ).toBeUndefined();
    expect(operationProgressOf(frame('other', { id: 'a', type: 't', progress: 0.5 }))).toBeUndefined();
    expect(operationProgressOf(frame('operation.progress', null))).toBeUndefined();
  });
});
