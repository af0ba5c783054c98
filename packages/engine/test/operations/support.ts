import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { setAdminPassword } from '../../src/auth/admin';
import type { Executor } from '../../src/db/schema';
import { createEvents, type Events } from '../../src/events';
import type { AuditInput } from '../../src/events/audit';
import { buildApp } from '../../src/http/app';
import { createOperations, type OperationsOptions, type Operations } from '../../src/operations';
import { createServices } from '../../src/services';
import type { MasterKey } from '../../src/secrets/master-key';
import { TEST_ADMIN_PASSWORD, TEST_CA_PEM } from '../support/app';
import { createTestDb, type TestDb } from '../support/db';

export interface OpsApp {
  app: FastifyInstance;
  t: TestDb;
  events: Events;
  operations: Operations;
  token: string;
  auth(): { authorization: string };
  /** Records an event in its own transaction (as a service would inside its change). */
  record(input: Partial<AuditInput> & { kind: string }, executor?: Executor): Promise<number>;
  /** Listens on 127.0.0.1 (plain HTTP: the stream tests read raw SSE) and returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface RegisterContext {
  db: TestDb['db'];
  audit: Events['audit'];
  log: pino.Logger;
}

export interface OpsAppOptions {
  runner?: OperationsOptions['runner'];
  purgeBatchSize?: number;
  /** Test-only operation types to insert into the types table. */
  types?: string[];
  /**
   * Set up handlers before the runner starts. `ctx` carries what operation handlers depend on (the
   * test database, the real audit log, a silent logger), so tests need no late-bound copies.
   */
  register?(ops: Operations, ctx: RegisterContext): void;
  /** Disk encryption for the services: the master key and `disks.encrypt_by_default`. */
  encryption?: { masterKey: MasterKey; encryptByDefault?: boolean };
}

/**
 * The real HTTP app on a fresh real database, with engine-ops' events and operations started
 * (LISTEN connection, notifier, runner): what main.ts wires, minus HTTPS.
 */
export async function createOpsApp(opts: OpsAppOptions = {}): Promise<OpsApp> {
  const t = await createTestDb();
  const log = pino({ level: process.env.VIREO_TEST_LOG ?? 'silent' });
  const events = createEvents({ db: t.db, pool: t.pool, log, pollMs: 1000 });
  const operations = createOperations({
    db: t.db,
    log,
    events,
    ...(opts.runner ? { runner: opts.runner } : {}),
    ...(opts.purgeBatchSize ? { purgeBatchSize: opts.purgeBatchSize } : {}),
  });
  let app: FastifyInstance | undefined;
  try {
    await setAdminPassword(t.db, TEST_ADMIN_PASSWORD);
    if (opts.types?.length) {
      await t.db
        .insertInto('operation_types')
        .values(opts.types.map((name) => ({ name, description: `test-only type ${name}` })))
        .execute();
    }
    opts.register?.(operations, { db: t.db, audit: events.audit, log });
    await events.start();
    operations.start();
    const services = createServices({
      db: t.db,
      log,
      audit: events.audit,
      operations,
      ...(opts.encryption ?? {}),
    });
    app = await buildApp({
      db: t.db,
      log,
      version: 'test',
      caPem: TEST_CA_PEM,
      health: async () => ({
        status: 'ok',
        version: 'test',
        database: 'ok',
        schema: { current: 0, latest: 0, pending: 0 },
      }),
      cookieSecure: true,
      services,
      events,
      operations,
    });
    await app.ready();
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin@internal', password: TEST_ADMIN_PASSWORD },
    });
    if (login.statusCode !== 200) throw new Error(`login failed: ${login.body}`);
    const token = (login.json() as { token: string }).token;
    const a = app;
    return {
      app: a,
      t,
      events,
      operations,
      token,
      auth: () => ({ authorization: `Bearer ${token}` }),
      async record(input, executor) {
        const write = (ex: Executor) =>
          events.audit.record(ex, { severity: 'info', message: `test event ${input.kind}`, ...input });
        const r = executor ? await write(executor) : await t.db.transaction().execute(write);
        return r.id;
      },
      async listen() {
        await a.listen({ host: '127.0.0.1', port: 0 });
        const { port } = a.server.address() as AddressInfo;
        return `http://127.0.0.1:${port}`;
      },
      async close() {
        await a.close();
        await operations.stop();
        await events.stop();
        await t.drop();
      },
    };
  } catch (err) {
    await app?.close();
    await operations.stop();
    await events.stop();
    await t.drop();
    throw err;
  }
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
