import Fastify, { type FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessLogController } from './access-log';

/** An app whose request logger redacts `token` (like app.ts) and a plain logger for access lines. */
async function appWithLog(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) };
  const root = pino({ level }, stream);
  const log = root.child(
    { module: 'engine:http' },
    { redact: { paths: ['token', '*.token'], censor: '[redacted]' } },
  );
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new AccessLogController(root.child({ module: 'engine:http' })),
  });
  app.get('/ok', async () => ({ ok: true }));
  app.get('/fail', async () => {
    throw Object.assign(new Error('boom'), { token: 'secret-value' });
  });
  await app.ready();
  return { app, lines };
}

describe('AccessLogController', () => {
  it('writes one line per answered request with its request id, through the plain logger', async () => {
    const { app, lines } = await appWithLog('info');
    try {
      const res = await app.inject({ method: 'GET', url: '/ok?x=1' });
      expect(res.statusCode).toBe(200);
      const access = lines.filter((l) => l.msg === 'request');
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({
        module: 'engine:http',
        request_id: expect.any(String),
        method: 'GET',
        url: '/ok?x=1',
        status: 200,
      });
      expect(typeof access[0]?.ms).toBe('number');
    } finally {
      await app.close();
    }
  });

  it('names the status of a failed request; the error itself stays with the redacting logger', async () => {
    const { app, lines } = await appWithLog('info');
    try {
      expect((await app.inject({ method: 'GET', url: '/fail' })).statusCode).toBe(500);
      expect(lines.filter((l) => l.msg === 'request')).toMatchObject([{ status: 500, url: '/fail' }]);
      // Fastify's error handler logged the error (with its fields) through the request logger.
      expect(lines.some((l) => l.level === 50)).toBe(true);
      expect(JSON.stringify(lines)).toContain('[redacted]');
      expect(JSON.stringify(lines)).not.toContain('secret-value');
    } finally {
      await app.close();
    }
  });

  it('writes nothing when the request logger is above info', async () => {
    const { app, lines } = await appWithLog('warn');
    try {
      await app.inject({ method: 'GET', url: '/ok' });
      expect(lines.filter((l) => l.msg === 'request')).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
