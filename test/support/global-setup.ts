import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres, type PgConnectionConfig } from '../../packages/engine/src/db/embedded-postgres';
import { migrate } from '../../packages/engine/src/db/migrate';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's one embedded PostgreSQL; tests make their own databases from `vireo_template`. */
    pg: PgConnectionConfig;
  }
}

export const TEMPLATE_DB = 'vireo_template';

/**
 * One real PostgreSQL for the whole run: starting it costs ~1.5 s, a fresh database copied from a
 * migrated template costs ~50 ms, so every test file gets its own database cheaply.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Under /tmp (not the clone) so the PostgreSQL account can reach it even when the clone is in /root.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-test-pg-'));
  fs.chmodSync(dir, 0o755);
  const server = new EmbeddedPostgres({
    clusterDir: path.join(dir, 'cluster'),
    passwordFile: path.join(dir, 'password'),
    logFile: path.join(dir, 'postgresql.log'),
  });
  const teardown = async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const conn = await server.start();
    const admin = new pg.Client(conn);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
    await admin.end();
    const tpl = new pg.Client({ ...conn, database: TEMPLATE_DB });
    await tpl.connect();
    await migrate(tpl);
    await tpl.end();
    project.provide('pg', conn);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
