import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';

interface Cluster {
  id: string;
  name: string;
  datacenter_id: string;
  description: string;
  cpu_type: string;
  memory_overcommit_percent: number;
  scheduling_policy: string;
}

describe('clusters over HTTP', () => {
  let t: TestApp;
  let dcA: string;
  let dcB: string;
  beforeAll(async () => {
    t = await createTestApp();
    for (const name of ['dc-a', 'dc-b']) {
      const res = await req('POST', '/datacenters', { name });
      if (name === 'dc-a') dcA = (res.json() as { id: string }).id;
      else dcB = (res.json() as { id: string }).id;
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  function req(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers = {}) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...t.auth(), ...headers },
      ...(payload ? { payload } : {}),
    });
  }

  it('creates a cluster with defaults and reads it back', async () => {
    const res = await req('POST', '/clusters', { name: 'web', datacenter_id: dcA });
    expect(res.statusCode, res.body).toBe(201);
    const c = res.json() as Cluster;
    expect(c).toMatchObject({
      name: 'web',
      datacenter_id: dcA,
      description: '',
      cpu_type: 'qemu64',
      memory_overcommit_percent: 100,
      scheduling_policy: 'none',
    });
    const got = await req('GET', `/clusters/${c.id}`);
    expect(got.json()).toEqual(c);
    expect(got.headers.etag).toBe('"1"');
  });

  it('accepts every field within its rules and updates them', async () => {
    const res = await req('POST', '/clusters', {
      name: 'db.cluster_1',
      datacenter_id: dcA,
      description: 'databases',
      cpu_type: 'EPYC-Rome',
      memory_overcommit_percent: 400,
      scheduling_policy: 'power_saving',
    });
    expect(res.statusCode, res.body).toBe(201);
    const c = res.json() as Cluster;
    const patched = await req(
      'PATCH',
      `/clusters/${c.id}`,
      { cpu_type: 'Haswell', memory_overcommit_percent: 150, scheduling_policy: 'evenly_distributed' },
      { 'if-match': '"1"' },
    );
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({
      name: 'db.cluster_1',
      cpu_type: 'Haswell',
      memory_overcommit_percent: 150,
      scheduling_policy: 'evenly_distributed',
      datacenter_id: dcA,
    });
  });

  it('keeps names unique within a data center only', async () => {
    expect((await req('POST', '/clusters', { name: 'shared', datacenter_id: dcA })).statusCode).toBe(201);
    expect((await req('POST', '/clusters', { name: 'shared', datacenter_id: dcB })).statusCode).toBe(201);
    const dup = await req('POST', '/clusters', { name: 'SHARED', datacenter_id: dcA });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({
      error: { code: 'cluster_name_taken', details: { datacenter_id: dcA } },
    });
  });

  it('answers 404 datacenter_not_found for a cluster in a data center that does not exist', async () => {
    const res = await req('POST', '/clusters', {
      name: 'orphan',
      datacenter_id: '00000000-0000-4000-8000-000000000000',
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'datacenter_not_found' } });
  });

  it('filters by data center and pages', async () => {
    for (let i = 0; i < 6; i++) {
      expect((await req('POST', '/clusters', { name: `b-${i}`, datacenter_id: dcB })).statusCode).toBe(201);
    }
    const first = await req('GET', `/clusters?datacenter_id=${dcB}&limit=4&sort=-name`);
    const p1 = first.json() as { items: Cluster[]; next_cursor: string };
    expect(p1.items.map((c) => c.name)).toEqual(['shared', 'b-5', 'b-4', 'b-3']);
    expect(p1.items.every((c) => c.datacenter_id === dcB)).toBe(true);
    const second = await req(
      'GET',
      `/clusters?datacenter_id=${dcB}&limit=4&sort=-name&cursor=${p1.next_cursor}`,
    );
    const p2 = second.json() as { items: Cluster[]; next_cursor: string | null };
    expect(p2.items.map((c) => c.name)).toEqual(['b-2', 'b-1', 'b-0']);
    expect(p2.next_cursor).toBeNull();
    // The cursor belongs to its sort order.
    const wrongSort = await req('GET', `/clusters?datacenter_id=${dcB}&limit=4&cursor=${p1.next_cursor}`);
    expect(wrongSort.statusCode).toBe(400);
    expect(wrongSort.json()).toMatchObject({ error: { code: 'invalid_cursor' } });
  });

  it('does not move a cluster between data centers', async () => {
    const c = (await req('POST', '/clusters', { name: 'stay', datacenter_id: dcA })).json() as Cluster;
    const res = await req('PATCH', `/clusters/${c.id}`, { datacenter_id: dcB }, { 'if-match': '"1"' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: { code: 'invalid_input', details: { errors: [{ in: 'body', path: '/datacenter_id' }] } },
    });
  });

  it('deletes a cluster and audits it', async () => {
    const c = (await req('POST', '/clusters', { name: 'doomed', datacenter_id: dcA })).json() as Cluster;
    expect((await req('DELETE', `/clusters/${c.id}`, undefined, { 'if-match': '"2"' })).statusCode).toBe(412);
    expect((await req('DELETE', `/clusters/${c.id}`)).statusCode).toBe(204);
    expect((await req('DELETE', `/clusters/${c.id}`)).json()).toMatchObject({
      error: { code: 'cluster_not_found' },
    });
    const kinds = await t.db.db
      .selectFrom('events')
      .select('kind')
      .where('object_id', '=', c.id)
      .orderBy('id')
      .execute();
    expect(kinds.map((k) => k.kind)).toEqual(['cluster.created', 'cluster.deleted']);
  });
});
