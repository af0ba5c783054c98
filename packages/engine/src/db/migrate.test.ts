import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/support/db';
import {
  type Migration,
  MigrationChecksumError,
  SchemaTooNewError,
  loadMigrations,
  migrate,
  migrationState,
} from './migrate';

describe('migrations (real PostgreSQL)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => t.drop());

  it('the template is fully migrated and re-running applies nothing', async () => {
    const client = await t.pool.connect();
    try {
      const before = await migrationState(client);
      expect(before.current).toBe(loadMigrations().length);
      expect(before.pending).toBe(0);
      const again = await migrate(client);
      expect(again.appliedNow).toBe(0);
    } finally {
      client.release();
    }
  });

  it('refuses a database migrated by a newer engine', async () => {
    const client = await t.pool.connect();
    try {
      const known = loadMigrations();
      const newer: Migration = { version: known.length + 1, name: 'future', sql: 'SELECT 1', checksum: 'x' };
      await migrate(client, [...known, newer]);
      await expect(migrate(client, known)).rejects.toBeInstanceOf(SchemaTooNewError);
      await client.query('DELETE FROM schema_migrations WHERE version = $1', [newer.version]);
    } finally {
      client.release();
    }
  });

  it('rolls back every migration of a failed run', async () => {
    const client = await t.pool.connect();
    try {
      const known = loadMigrations();
      const good: Migration = {
        version: known.length + 1,
        name: 'good',
        sql: 'CREATE TABLE mig_probe (x int)',
        checksum: 'g',
      };
      const bad: Migration = {
        version: known.length + 2,
        name: 'bad',
        sql: 'SELECT no_such_fn()',
        checksum: 'b',
      };
      await expect(migrate(client, [...known, good, bad])).rejects.toThrow(/migration .* \(bad\) failed/);
      const probe = await client.query("SELECT to_regclass('mig_probe') AS t");
      expect(probe.rows[0].t).toBeNull();
      expect((await migrationState(client, known)).current).toBe(known.length);
    } finally {
      client.release();
    }
  });

  it('refuses an applied migration whose file changed', async () => {
    const client = await t.pool.connect();
    try {
      const known = loadMigrations();
      const edited = known.map((m, i) => (i === 0 ? { ...m, checksum: 'edited' } : m));
      await expect(migrate(client, edited)).rejects.toBeInstanceOf(MigrationChecksumError);
    } finally {
      client.release();
    }
  });
});
