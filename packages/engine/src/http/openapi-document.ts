import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { ENGINE_VERSION } from '../cli/version';
import type { Database } from '../db/schema';
import { createEvents } from '../events';
import { createAudit } from '../events/audit';
import { createOperations } from '../operations';
import { createServices } from '../services';
import { buildApp } from './app';
import { openApiJson } from './plugins/openapi';

/**
 * The OpenAPI document exactly as the engine serves it at /api/v1/openapi.json, rendered without a
 * database (nothing is queried: the pool never connects). Used by `npm run openapi` to write
 * docs/api/openapi.json and by the test that fails when that file is stale.
 */
export async function renderOpenApiDocument(): Promise<string> {
  const pool = new pg.Pool({ max: 1 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const log = pino({ level: 'silent' });
  const events = createEvents({ db, pool, log });
  const services = createServices({
    db,
    log,
    audit: createAudit(),
    operations: {
      async create() {
        throw new Error('rendering the OpenAPI document creates no operations');
      },
    },
  });
  const app = await buildApp({
    db,
    log,
    version: ENGINE_VERSION,
    caPem: '',
    health: async () => {
      throw new Error('rendering the OpenAPI document checks no health');
    },
    cookieSecure: true,
    services,
    // Constructed, never started: nothing connects.
    events,
    operations: createOperations({ db, log, events }),
  });
  try {
    await app.ready();
    return openApiJson(app);
  } finally {
    await app.close();
    await db.destroy();
  }
}
