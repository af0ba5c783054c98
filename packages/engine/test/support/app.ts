import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { setAdminPassword } from '../../src/auth/admin';
import { createEvents, type Events } from '../../src/events';
import { createAudit } from '../../src/events/audit';
import { createOperations, type Operations } from '../../src/operations';
import { buildApp } from '../../src/http/app';
import type { AppDeps, HealthReport } from '../../src/http/deps';
import { createServices, type OperationCreator, type ServiceDeps, type Services } from '../../src/services';
import { createTestDb, type TestDb } from './db';

export const TEST_ADMIN_PASSWORD = 'test-admin-password';
export const TEST_CA_PEM = '-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n';

export interface TestApp {
  app: FastifyInstance;
  db: TestDb;
  services: Services;
  /** engine-ops' events and operations the app was built with (not started unless passed in). */
  events: Events;
  operations: Operations;
  /** A bearer token of admin@internal, logged in once at creation. */
  token: string;
  /** Logs in (admin@internal by default) and returns the new token. */
  login(username?: string, password?: string): Promise<string>;
  /** `{ authorization: 'Bearer …' }` for inject(). */
  auth(token?: string): { authorization: string };
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Services' dependencies to replace (e.g. engine-ops' real operation service, short token TTL). */
  services?: Partial<Pick<ServiceDeps, 'operations' | 'audit' | 'auth'>>;
  /** AppDeps to replace (bodyLimit, cookieSecure, health, …). */
  app?: Partial<Omit<AppDeps, 'db' | 'services'>>;
}

/** Stands in for the operation service in tests that create no operations; fails loudly if used. */
const noOperations: OperationCreator = {
  async create() {
    throw new Error(
      'this test app was built without an operation service (pass options.services.operations)',
    );
  },
};

/**
 * The engine's real HTTP app on a fresh real database (createTestDb), with admin@internal's
 * password set and a token ready. Call `close()` in afterAll.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const db = await createTestDb();
  const log = pino({ level: process.env.VIREO_TEST_LOG ?? 'silent' });
  try {
    await setAdminPassword(db.db, TEST_ADMIN_PASSWORD);
    const services = createServices({
      db: db.db,
      log,
      audit: createAudit(),
      operations: noOperations,
      ...options.services,
    });
    const health = async (): Promise<HealthReport> => ({
      status: 'ok',
      version: 'test',
      database: 'ok',
      schema: { current: 0, latest: 0, pending: 0 },
    });
    // engine-ops' real events and operations, not started (tests that need them pass their own).
    const events = options.app?.events ?? createEvents({ db: db.db, pool: db.pool, log });
    const operations = options.app?.operations ?? createOperations({ db: db.db, log, events });
    const app = await buildApp({
      db: db.db,
      log,
      version: 'test',
      caPem: TEST_CA_PEM,
      health,
      cookieSecure: true,
      services,
      ...options.app,
      events,
      operations,
    });
    await app.ready();
    const login = async (username = 'admin@internal', password = TEST_ADMIN_PASSWORD): Promise<string> => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username, password },
      });
      if (res.statusCode !== 200)
        throw new Error(`login as ${username} failed: ${res.statusCode} ${res.body}`);
      return (res.json() as { token: string }).token;
    };
    const token = await login();
    return {
      app,
      db,
      services,
      events,
      operations,
      token,
      login,
      auth: (t = token) => ({ authorization: `Bearer ${t}` }),
      async close() {
        await app.close();
        await db.drop();
      },
    };
  } catch (err) {
    await db.drop();
    throw err;
  }
}
