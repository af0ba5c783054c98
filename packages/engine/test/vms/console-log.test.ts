import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactConsoleUrl } from '../../src/console/tickets';
import { createTestApp, type TestApp } from '../support/app';

describe('console tickets stay out of the access log', () => {
  let t: TestApp;
  const lines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    t = await createTestApp({ app: { log: pino({ level: 'debug' }, sink) } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a plain GET of the console endpoint is logged without its query string', async () => {
    const ticket = 'SECRET-TICKET-abcdefghijklmnopqrstuvwxyz0123';
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/console/ws?ticket=${ticket}` });
    expect(res.statusCode).toBe(404);
    const all = lines.join('');
    expect(all).toContain('/api/v1/console/ws?[redacted]');
    expect(all).not.toContain('SECRET-TICKET');
  });

  it('other query strings are kept', () => {
    expect(redactConsoleUrl('/api/v1/vms?limit=2')).toBe('/api/v1/vms?limit=2');
    expect(redactConsoleUrl('/api/v1/console/ws')).toBe('/api/v1/console/ws');
  });
});
