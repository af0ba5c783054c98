import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentHub } from '../../src/agents/types';
import { createTransferService, type TransferService } from '../../src/transfers/service';
import { createTestApp, type TestApp } from '../support/app';

/** A hub with no agent connected: every request that would need one must be refused before it. */
const noAgents = {
  isConnected: () => false,
  hello: () => undefined,
  call: async () => {
    throw new Error('no agent call was expected');
  },
  on() {
    return this;
  },
  off() {
    return this;
  },
} as unknown as AgentHub;

describe('image transfer routes: requests refused before any host is involved', () => {
  let t: TestApp;
  // The app is built before the service (it needs the test database): routes read it at request time.
  const transfers = {} as TransferService;

  beforeAll(async () => {
    t = await createTestApp({ app: { transfers } });
    Object.assign(
      transfers,
      createTransferService({
        db: t.db.db,
        hub: noAgents,
        tls: () => ({ ca: '', cert: '', key: '' }),
        audit: { record: async () => undefined },
        operations: t.operations,
        log: pino({ level: 'silent' }),
      }),
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (payload: unknown) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/image-transfers',
      headers: t.auth(),
      payload: payload as object,
    });

  it('checks the create body: fields, exactly one target, format against target', async () => {
    const domain = randomUUID();
    const cases: [unknown, number, string][] = [
      [{ direction: 'upload' }, 400, 'invalid_input'],
      [
        { direction: 'upload', storage_domain_id: domain, format: 'iso', size_bytes: 10 },
        400,
        'invalid_input',
      ],
      [
        {
          direction: 'upload',
          storage_domain_id: domain,
          format: 'iso',
          size_bytes: 10,
          iso_file: 'a.iso',
          disk_name: 'd',
        },
        400,
        'invalid_input',
      ],
      [
        { direction: 'upload', storage_domain_id: domain, format: 'raw', size_bytes: 10, iso_file: 'a.iso' },
        400,
        'invalid_input',
      ],
      [
        {
          direction: 'upload',
          storage_domain_id: domain,
          format: 'raw',
          size_bytes: 4096,
          disk_name: 'small',
        },
        400,
        'invalid_input',
      ],
      [
        { direction: 'upload', storage_domain_id: domain, format: 'iso', size_bytes: 10, iso_file: '../etc' },
        400,
        'invalid_input',
      ],
      [
        { direction: 'upload', storage_domain_id: domain, format: 'iso', size_bytes: 10, iso_file: 'a.iso' },
        404,
        'storage_domain_not_found',
      ],
      [{ direction: 'download' }, 400, 'invalid_input'],
      [{ direction: 'download', disk_id: randomUUID() }, 404, 'disk_not_found'],
      [{ direction: 'sideways' }, 400, 'invalid_input'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(status);
      expect(res.json().error.code, JSON.stringify(body)).toBe(code);
    }
  });

  it('answers unknown transfers with image_transfer_not_found and wants octet-stream bodies', async () => {
    const id = randomUUID();
    const get = await t.app.inject({
      method: 'GET',
      url: `/api/v1/image-transfers/${id}`,
      headers: t.auth(),
    });
    expect(get.statusCode).toBe(404);
    expect(get.json().error.code).toBe('image_transfer_not_found');
    const put = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/image-transfers/${id}/data`,
      headers: { ...t.auth(), 'content-type': 'application/octet-stream', 'content-range': 'bytes 0-3/4' },
      payload: Buffer.from('abcd'),
    });
    expect(put.statusCode).toBe(404);
    const json = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/image-transfers/${id}/data`,
      headers: { ...t.auth(), 'content-type': 'application/json' },
      payload: { not: 'bytes' },
    });
    expect(json.statusCode).toBe(400);
    expect(json.json().error.code).toBe('unsupported_media_type');
    for (const [method, url] of [
      ['POST', `/api/v1/image-transfers/${id}/finalize`],
      ['DELETE', `/api/v1/image-transfers/${id}`],
      ['GET', `/api/v1/image-transfers/${id}/data`],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: t.auth() });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/image-transfers', headers: t.auth() });
    expect(list.json()).toEqual({ items: [], next_cursor: null });
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/image-transfers' });
    expect(anonymous.statusCode).toBe(401);
  });
});
