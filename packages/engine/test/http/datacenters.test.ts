import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';

interface Dc {
  id: string;
  name: string;
  description: string;
  storage_format: string;
  compatibility_version: string;
  created_at: string;
  updated_at: string;
}

describe('data centers over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const req = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers = {}) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...t.auth(), ...headers },
      ...(payload ? { payload } : {}),
    });

  async function create(name: string, extra: Record<string, unknown> = {}): Promise<Dc> {
    const res = await req('POST', '/datacenters', { name, ...extra });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as Dc;
  }

  async function events(objectId: string): Promise<{ kind: string; user_id: string | null }[]> {
    return t.db.db
      .selectFrom('events')
      .select(['kind', 'user_id'])
      .where('object_id', '=', objectId)
      .orderBy('id')
      .execute();
  }

  it('has the Default data center with the Default cluster after setup', async () => {
    const res = await req('GET', '/datacenters?search=Default');
    expect(res.statusCode).toBe(200);
    const dc = (res.json() as { items: Dc[] }).items.find((d) => d.name === 'Default');
    expect(dc).toBeDefined();
    const clusters = await req('GET', `/clusters?datacenter_id=${dc!.id}`);
    expect((clusters.json() as { items: { name: string }[] }).items.map((c) => c.name)).toEqual(['Default']);
  });

  it('creates, reads, updates and deletes a data center, auditing each change', async () => {
    const created = await req('POST', '/datacenters', { name: 'prod-1', description: 'production' });
    expect(created.statusCode).toBe(201);
    const dc = created.json() as Dc;
    expect(dc).toMatchObject({
      name: 'prod-1',
      description: 'production',
      storage_format: 'v1',
      compatibility_version: '1.0',
    });
    expect(dc.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(dc.created_at).toISOString()).toBe(dc.created_at);
    expect(created.headers.location).toBe(`/api/v1/datacenters/${dc.id}`);
    expect(created.headers.etag).toBe('"1"');

    const got = await req('GET', `/datacenters/${dc.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(dc);
    expect(got.headers.etag).toBe('"1"');

    const patched = await req(
      'PATCH',
      `/datacenters/${dc.id}`,
      { description: 'prod' },
      { 'if-match': '"1"' },
    );
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'prod-1', description: 'prod' });
    expect(patched.headers.etag).toBe('"2"');
    expect(Date.parse((patched.json() as Dc).updated_at)).toBeGreaterThanOrEqual(Date.parse(dc.updated_at));

    const del = await req('DELETE', `/datacenters/${dc.id}`);
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    const gone = await req('GET', `/datacenters/${dc.id}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ error: { code: 'datacenter_not_found', details: { id: dc.id } } });

    const admin = await t.db.db
      .selectFrom('users')
      .select('id')
      .where('name', '=', 'admin')
      .executeTakeFirstOrThrow();
    expect(await events(dc.id)).toEqual([
      { kind: 'datacenter.created', user_id: admin.id },
      { kind: 'datacenter.updated', user_id: admin.id },
      { kind: 'datacenter.deleted', user_id: admin.id },
    ]);
  });

  it('keeps names unique regardless of case, and a failed create leaves no audit event', async () => {
    const first = await create('Unique-DC');
    const dup = await req('POST', '/datacenters', { name: 'unique-dc' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({
      error: { code: 'datacenter_name_taken', details: { name: 'unique-dc' } },
    });
    const count = await t.db.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('kind', '=', 'datacenter.created')
      .where('message', 'like', '%unique-dc%')
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
    // Renaming onto a taken name is a conflict too.
    const other = await create('Other-DC');
    const rename = await req(
      'PATCH',
      `/datacenters/${other.id}`,
      { name: 'UNIQUE-dc' },
      { 'if-match': '"1"' },
    );
    expect(rename.statusCode).toBe(409);
    expect(rename.json()).toMatchObject({ error: { code: 'datacenter_name_taken' } });
    expect((await req('GET', `/datacenters/${other.id}`)).headers.etag).toBe('"1"');
    expect(first.name).toBe('Unique-DC');
  });

  it('requires If-Match on PATCH and rejects a stale ETag', async () => {
    const dc = await create('etag-dc');
    const missing = await req('PATCH', `/datacenters/${dc.id}`, { description: 'x' });
    expect(missing.statusCode).toBe(428);
    expect(missing.json()).toMatchObject({ error: { code: 'precondition_required' } });

    const first = await req('PATCH', `/datacenters/${dc.id}`, { description: 'a' }, { 'if-match': '"1"' });
    expect(first.statusCode).toBe(200);
    // A second writer still holding version 1 loses.
    const stale = await req('PATCH', `/datacenters/${dc.id}`, { description: 'b' }, { 'if-match': '"1"' });
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({
      error: { code: 'etag_mismatch', details: { current_etag: '"2"' } },
    });
    expect((await req('GET', `/datacenters/${dc.id}`)).json()).toMatchObject({ description: 'a' });

    const star = await req('PATCH', `/datacenters/${dc.id}`, { description: 'c' }, { 'if-match': '*' });
    expect(star.statusCode).toBe(200);
    expect(star.headers.etag).toBe('"3"');

    const staleDelete = await req('DELETE', `/datacenters/${dc.id}`, undefined, { 'if-match': '"2"' });
    expect(staleDelete.statusCode).toBe(412);
    const okDelete = await req('DELETE', `/datacenters/${dc.id}`, undefined, { 'if-match': '"3"' });
    expect(okDelete.statusCode).toBe(204);
  });

  it('refuses to delete a data center that has clusters, naming them', async () => {
    const dc = await create('busy-dc');
    const ids: string[] = [];
    for (const name of ['c-a', 'c-b']) {
      const res = await req('POST', '/clusters', { name, datacenter_id: dc.id });
      expect(res.statusCode, res.body).toBe(201);
      ids.push((res.json() as { id: string }).id);
    }
    const del = await req('DELETE', `/datacenters/${dc.id}`);
    expect(del.statusCode).toBe(409);
    const body = del.json() as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect(body.error.code).toBe('datacenter_not_empty');
    expect(body.error.details.blocking).toEqual([
      { kind: 'cluster', id: ids[0], name: 'c-a' },
      { kind: 'cluster', id: ids[1], name: 'c-b' },
    ]);
    expect(body.error.details.blocking_total).toBe(2);
    expect(body.error.message).toContain('busy-dc');
    for (const id of ids) expect((await req('DELETE', `/clusters/${id}`)).statusCode).toBe(204);
    expect((await req('DELETE', `/datacenters/${dc.id}`)).statusCode).toBe(204);
  });

  it('pages through every data center exactly once, in either direction, by name or time', async () => {
    const names = Array.from({ length: 23 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
    for (const n of names) await create(n, { description: n.endsWith('7') ? 'lucky seven' : '' });

    async function all(query: string, limit: number): Promise<{ names: string[]; pages: number }> {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/datacenters?search=page-&limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await req('GET', q);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as { items: Dc[]; next_cursor: string | null };
        expect(body.items.length).toBeLessThanOrEqual(limit);
        seen.push(...body.items.map((d) => d.name));
        cursor = body.next_cursor;
        pages++;
      } while (cursor);
      return { names: seen, pages };
    }

    const asc = await all('', 5);
    expect(asc.names).toEqual(names);
    expect(asc.pages).toBe(5);
    const desc = await all('&sort=-name', 7);
    expect(desc.names).toEqual([...names].reverse());
    const byTime = await all('&sort=created_at', 4);
    expect(byTime.names).toEqual(names);
    const byTimeDesc = await all('&sort=-created_at', 10);
    expect(byTimeDesc.names).toEqual([...names].reverse());
    // An exact multiple of the page size ends with next_cursor null, not an empty extra page.
    const exact = await req('GET', '/datacenters?search=page-1&limit=10');
    expect(exact.json()).toMatchObject({ next_cursor: null });
    expect((exact.json() as { items: Dc[] }).items).toHaveLength(10);
  });

  it('searches name and description case-insensitively, with % and _ taken literally', async () => {
    await create('wild_card', { description: '100% real' });
    await create('wildXcard');
    const names = async (q: string) =>
      ((await req('GET', `/datacenters?search=${encodeURIComponent(q)}`)).json() as { items: Dc[] }).items
        .map((d) => d.name)
        .sort();
    expect(await names('LUCKY')).toEqual(['page-07', 'page-17']);
    expect(await names('wild_')).toEqual(['wild_card']);
    expect(await names('0%')).toEqual(['wild_card']);
    expect(await names('wild')).toEqual(['wildXcard', 'wild_card'].sort());
    expect(await names('no-such-thing')).toEqual([]);
  });
});
