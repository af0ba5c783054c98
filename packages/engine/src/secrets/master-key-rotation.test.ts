import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/support/db';
import { createAudit } from '../events/audit';
import { createDiskKey, diskKeyOf } from './disk-key-store';
import { loadOrCreateMasterKey } from './master-key';
import { NEXT_MASTER_KEY_FILE, rotateMasterKey } from './master-key-rotation';

/**
 * Master key rotation on a real database: every disk key is re-wrapped (same plaintext key, new
 * master key id) in one transaction; an interrupted rotation (the next key written, some rows
 * already moved) blocks the engine's key loader and is finished by running the rotation again; a
 * row under an unknown key rolls everything back and leaves the key files as they were.
 */
describe('disk master key rotation (real database)', () => {
  let t: TestDb;
  let dir: string;
  let domainId: string;
  const log = pino({ level: 'silent' });
  const rotate = () => rotateMasterKey({ db: t.db, secretsDir: dir, audit: createAudit(), log });
  const newDisk = async (): Promise<string> => {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO disks (name, storage_domain_id, size_bytes, format)
      VALUES ('d', ${domainId}, 1048576, 'qcow2') RETURNING id`.execute(t.db);
    return (rows[0] as { id: string }).id;
  };
  const ids = async () =>
    (
      await sql<{ master_key_id: string }>`SELECT master_key_id FROM disk_keys ORDER BY disk_id`.execute(t.db)
    ).rows.map((r) => r.master_key_id);

  beforeAll(async () => {
    t = await createTestDb();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-keyrot-'));
    const { rows } = await sql<{ id: string }>`
      INSERT INTO storage_domains (name, kind, backend, path)
      VALUES ('rot-data', 'data', 'posix', '/srv/rot') RETURNING id`.execute(t.db);
    domainId = (rows[0] as { id: string }).id;
  });

  afterAll(async () => {
    await t?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('re-wraps every disk key under a new master key; the plaintext keys stay the same', async () => {
    const first = loadOrCreateMasterKey(dir);
    const disks = [await newDisk(), await newDisk()];
    const plain: string[] = [];
    for (const d of disks) plain.push(await t.db.transaction().execute((tx) => createDiskKey(tx, first, d)));

    const r = await rotate();
    expect(r).toMatchObject({ previous_master_key_id: first.id, rewrapped: 2, already: 0, resumed: false });
    const second = loadOrCreateMasterKey(dir);
    expect(second.id).toBe(r.master_key_id);
    expect(second.id).not.toBe(first.id);
    expect(await ids()).toEqual([second.id, second.id]);
    for (const [i, d] of disks.entries()) expect(await diskKeyOf(t.db, second, d)).toBe(plain[i]);
    // The old key no longer opens them.
    await expect(diskKeyOf(t.db, first, disks[0] as string)).rejects.toThrow(/another master key/);
    expect(fs.existsSync(path.join(dir, NEXT_MASTER_KEY_FILE))).toBe(false);
    const ev = await sql<{ details: Record<string, unknown> }>`
      SELECT details FROM events WHERE kind = 'engine.master_key_rotated'`.execute(t.db);
    expect(ev.rows.at(-1)?.details).toMatchObject({ master_key_id: second.id, rewrapped: 2 });
  });

  it('finishes an interrupted rotation, which blocks the engine from loading a key meanwhile', async () => {
    const current = loadOrCreateMasterKey(dir);
    const d = await newDisk();
    const plain = await t.db.transaction().execute((tx) => createDiskKey(tx, current, d));
    // A rotation that died after moving one row: the next key on disk, rows under both keys.
    const crashed = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-keyrot-next-'));
    const next = loadOrCreateMasterKey(crashed);
    fs.copyFileSync(path.join(crashed, 'disk-master.key'), path.join(dir, NEXT_MASTER_KEY_FILE));
    fs.rmSync(crashed, { recursive: true, force: true });
    const moved = await newDisk();
    const movedPlain = await t.db.transaction().execute((tx) => createDiskKey(tx, next, moved));
    expect(() => loadOrCreateMasterKey(dir)).toThrow(/did not finish/);

    const r = await rotate();
    expect(r).toMatchObject({ master_key_id: next.id, resumed: true, already: 1, rewrapped: 3 });
    const now = loadOrCreateMasterKey(dir);
    expect(now.id).toBe(next.id);
    expect(await diskKeyOf(t.db, now, d)).toBe(plain);
    expect(await diskKeyOf(t.db, now, moved)).toBe(movedPlain);
  });

  it('refuses (and changes nothing) when a disk key is under an unknown master key', async () => {
    const current = loadOrCreateMasterKey(dir);
    const stranger = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-keyrot-x-'));
    const other = loadOrCreateMasterKey(stranger);
    fs.rmSync(stranger, { recursive: true, force: true });
    const d = await newDisk();
    await t.db.transaction().execute((tx) => createDiskKey(tx, other, d));
    const before = await ids();
    await expect(rotate()).rejects.toThrow(/another master key/);
    expect(await ids()).toEqual(before);
    // This run's next key is dropped again: the engine still starts on the current key.
    expect(fs.existsSync(path.join(dir, NEXT_MASTER_KEY_FILE))).toBe(false);
    expect(loadOrCreateMasterKey(dir).id).toBe(current.id);
  });
});
