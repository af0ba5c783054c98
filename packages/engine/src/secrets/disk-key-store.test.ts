import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/support/db';
import { createDiskKey, diskKeyOf, isDiskEncrypted } from './disk-key-store';
import { loadOrCreateMasterKey, type MasterKey } from './master-key';

describe('disk keys in PostgreSQL (migration 0014)', () => {
  let t: TestDb;
  let dir: string;
  let master: MasterKey;
  let domainId: string;

  const newDisk = async (format: 'qcow2' | 'raw' = 'qcow2'): Promise<string> => {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO disks (name, storage_domain_id, size_bytes, format)
      VALUES ('d1', ${domainId}, 1048576, ${format}) RETURNING id`.execute(t.db);
    return (rows[0] as { id: string }).id;
  };

  beforeAll(async () => {
    t = await createTestDb();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-diskkeys-'));
    master = loadOrCreateMasterKey(dir);
    const { rows } = await sql<{ id: string }>`
      INSERT INTO storage_domains (name, kind, backend, path)
      VALUES ('posix-data', 'data', 'posix', '/srv/vireo') RETURNING id`.execute(t.db);
    domainId = (rows[0] as { id: string }).id;
  });

  afterAll(async () => {
    await t?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores only the wrapped key, gives the same key back, and goes with its disk', async () => {
    const plain = await newDisk();
    const key = await t.db.transaction().execute((tx) => createDiskKey(tx, master, plain));
    expect(Buffer.from(key, 'base64').length).toBe(32);
    expect(await isDiskEncrypted(t.db, plain)).toBe(true);
    expect(await diskKeyOf(t.db, master, plain)).toBe(key);

    const { rows } = await sql<{ ciphertext: Buffer; master_key_id: string }>`
      SELECT ciphertext, master_key_id FROM disk_keys WHERE disk_id = ${plain}`.execute(t.db);
    expect(rows[0]?.master_key_id).toBe(master.id);
    expect(rows[0]?.ciphertext.equals(Buffer.from(key, 'base64'))).toBe(false);

    const other = await newDisk();
    expect(await isDiskEncrypted(t.db, other)).toBe(false);
    expect(await diskKeyOf(t.db, master, other)).toBeUndefined();

    // Another engine's master key cannot open it.
    const foreign = loadOrCreateMasterKey(path.join(dir, 'other'));
    await expect(diskKeyOf(t.db, foreign, plain)).rejects.toThrow(/another master key/);

    await sql`DELETE FROM disks WHERE id = ${plain}`.execute(t.db);
    const left = await sql`SELECT 1 FROM disk_keys WHERE disk_id = ${plain}`.execute(t.db);
    expect(left.rows).toEqual([]);
  });

  it('refuses an encrypted raw disk (LUKS lives in the qcow2 header)', async () => {
    const raw = await newDisk('raw');
    await expect(createDiskKey(t.db, master, raw)).rejects.toThrow(/disks_encrypted_qcow2/);
  });
});
