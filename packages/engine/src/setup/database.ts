import pg from 'pg';
import type { Logger } from 'pino';
import { type EngineConfig, stripPassword } from '../config';
import type { DbTarget } from '../db/connection';
import { EmbeddedPostgres } from '../db/embedded-postgres';
import { type MigrationState, migrate } from '../db/migrate';

/** The database the engine's own data lives in, inside the embedded cluster. */
export const EMBEDDED_DATABASE = 'vireo';

/** A reachable database for this configuration: the embedded server started, or an external URL. */
export interface EngineDatabase {
  target: DbTarget;
  /** For logs and messages: never contains a password. */
  description: string;
  embedded: EmbeddedPostgres | undefined;
  /** Stops the embedded server (no-op for an external database). */
  stop(): Promise<void>;
}

/**
 * Starts the embedded PostgreSQL (creating its cluster and the `vireo` database on first use) or
 * returns the external URL untouched.
 */
export async function startDatabase(
  config: EngineConfig,
  log: Logger,
  onUnexpectedExit?: (code: number | null, signal: NodeJS.Signals | null) => void,
): Promise<EngineDatabase> {
  if (config.database.kind === 'external') {
    return {
      target: config.database.url,
      description: stripPassword(config.database.url, '***'),
      embedded: undefined,
      async stop() {},
    };
  }
  const pgLog = log.child({ module: 'engine:postgresql' });
  const server = new EmbeddedPostgres({
    clusterDir: config.paths.postgresDir,
    passwordFile: config.paths.postgresPassword,
    logFile: config.paths.postgresLog,
    log: (msg, fields) => pgLog.info(fields ?? {}, msg),
    ...(onUnexpectedExit ? { onUnexpectedExit } : {}),
  });
  const conn = await server.start();
  try {
    const admin = new pg.Client(conn);
    await admin.connect();
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
      if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await server.stop();
    throw new Error('preparing the embedded database failed', { cause: err });
  }
  return {
    target: { ...conn, database: EMBEDDED_DATABASE },
    description: `embedded PostgreSQL in ${config.paths.postgresDir}`,
    embedded: server,
    stop: () => server.stop(),
  };
}

/** Applies pending migrations in one transaction (see db/migrate.ts); throws SchemaTooNewError. */
export async function migrateDatabase(target: DbTarget, root: Logger): Promise<MigrationState> {
  const log = root.child({ module: 'engine:migrate' });
  const client = new pg.Client(typeof target === 'string' ? { connectionString: target } : target);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to the database: ${(err as Error).message}`, { cause: err });
  }
  // A connection error after connect() must not crash the process; the query will fail instead.
  client.on('error', (err) => log.warn({ err }, 'migration connection error'));
  try {
    const state = await migrate(client);
    log.info({ schema: state.current, appliedNow: state.appliedNow }, 'database schema is up to date');
    return state;
  } finally {
    await client.end().catch(() => {});
  }
}
