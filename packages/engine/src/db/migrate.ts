import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** One forward-only migration file: `NNNN_name.sql` in packages/engine/migrations. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationState {
  /** Highest version applied in the database (0 when empty). */
  current: number;
  /** Highest version this engine knows. */
  latest: number;
  pending: number;
  /** Migrations applied by this call (only set by migrate()). */
  appliedNow?: number;
}

/** The database was migrated by a newer engine: this one must not touch it. */
export class SchemaTooNewError extends Error {
  readonly code = 'schema_too_new';
  constructor(
    readonly current: number,
    readonly latest: number,
  ) {
    super(
      `the database schema is at version ${current}, but this engine only knows up to version ${latest}; ` +
        'upgrade vireo-engine before starting it against this database',
    );
  }
}

export class MigrationChecksumError extends Error {
  readonly code = 'migration_checksum_mismatch';
  constructor(version: number, name: string) {
    super(
      `migration ${version} (${name}) differs from the one applied to this database; migrations are forward-only`,
    );
  }
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
// Any fixed number works; it only has to be the same for every engine sharing a database.
const MIGRATION_LOCK_KEY = 0x76697265;

/** Finds the migrations directory both from sources (src/db) and from the bundle (dist/). */
export function migrationsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'migrations');
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the engine migrations directory');
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const m = FILE_RE.exec(file);
      if (!m) throw new Error(`bad migration file name ${file}: expected NNNN_name.sql`);
      const sql = fs.readFileSync(path.join(dir, file), 'utf8');
      return {
        version: Number(m[1]),
        name: m[2]!,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migrations must be numbered 1..N without gaps; found ${m.version} at ${i + 1}`);
  });
  return migrations;
}

/**
 * Applies pending migrations in a single transaction under an advisory lock, so two engines starting
 * together cannot both migrate, and a failure leaves the schema exactly as it was.
 */
export async function migrate(client: pg.ClientBase, migrations = loadMigrations()): Promise<MigrationState> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = await appliedMigrations(client);
    const latest = migrations.at(-1)?.version ?? 0;
    const current = Math.max(0, ...applied.keys());
    if (current > latest) throw new SchemaTooNewError(current, latest);
    let appliedNow = 0;
    for (const m of migrations) {
      const done = applied.get(m.version);
      if (done !== undefined) {
        if (done !== m.checksum) throw new MigrationChecksumError(m.version, m.name);
        continue;
      }
      try {
        await client.query(m.sql);
      } catch (err) {
        throw new Error(`migration ${m.version} (${m.name}) failed`, { cause: err });
      }
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
      appliedNow++;
    }
    await client.query('COMMIT');
    return { current: latest, latest, pending: 0, appliedNow };
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** Reads the schema state without changing anything (for health and `pki status`-style tools). */
export async function migrationState(
  client: pg.ClientBase,
  migrations = loadMigrations(),
): Promise<MigrationState> {
  const exists = await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok");
  const applied = exists.rows[0].ok ? await appliedMigrations(client) : new Map<number, string>();
  const latest = migrations.at(-1)?.version ?? 0;
  const current = Math.max(0, ...applied.keys());
  return { current, latest, pending: migrations.filter((m) => !applied.has(m.version)).length };
}

async function appliedMigrations(client: pg.ClientBase): Promise<Map<number, string>> {
  const res = await client.query<{ version: number; checksum: string }>(
    'SELECT version, checksum FROM schema_migrations',
  );
  return new Map(res.rows.map((r) => [r.version, r.checksum]));
}
