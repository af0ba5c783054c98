import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import { VireoError } from '../errors';
import type { Audit } from '../events/audit';
import { assertPrivate, writeSecretFile } from '../pki/files';
import { unwrapDiskKey, wrapDiskKey } from './disk-keys';
import { KEY_BYTES, MASTER_KEY_FILE, type MasterKey, masterKeyFrom } from './master-key';

/**
 * The master key a rotation is moving to, beside the current one until the rotation is done. While
 * it exists the engine refuses to start (see master-key.ts): some disk keys may already be wrapped
 * under it. `vireo-engine keys rotate` finishes (or redoes) the rotation.
 */
export const NEXT_MASTER_KEY_FILE = `${MASTER_KEY_FILE}.next`;

/** One rotation's outcome (printed by the CLI; no key material). */
export interface RotationResult {
  previous_master_key_id: string;
  master_key_id: string;
  /** Disk keys re-wrapped by this run (fewer than all when it finished an interrupted rotation). */
  rewrapped: number;
  /** Disk keys that were already under the new key (an interrupted rotation). */
  already: number;
  resumed: boolean;
}

// Any constant: two rotations against one database (two engines sharing it) exclude each other.
const ROTATION_LOCK = 0x76697265; // "vire"

function readKeyFile(file: string): MasterKey {
  assertPrivate(file);
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${file} holds ${key.length} bytes, not ${KEY_BYTES}`);
  return masterKeyFrom(key);
}

/**
 * Re-wraps every disk key under a new master key. Run with the engine stopped (the CLI holds the
 * engine's pid file), in this order, so that a crash anywhere can be finished by running it again:
 *
 * 1. the new key is written to `disk-master.key.next` (0600, atomic) — or, after a crash, read back;
 * 2. one transaction, under an advisory lock (a second rotation is refused): every `disk_keys` row
 *    under the current key is unwrapped and wrapped again under the new one; rows already under the
 *    new key are left; a row under any other key aborts everything; an audit event is recorded;
 * 3. `disk-master.key.next` is renamed over `disk-master.key` (the old key is kept until then and
 *    gone after: rotating is for retiring it) and the directory is fsynced.
 */
export async function rotateMasterKey(opts: {
  db: Db;
  secretsDir: string;
  audit: Audit;
  log: Logger;
}): Promise<RotationResult> {
  const log = opts.log.child({ module: 'engine:master-key-rotation' });
  const currentFile = path.join(opts.secretsDir, MASTER_KEY_FILE);
  const nextFile = path.join(opts.secretsDir, NEXT_MASTER_KEY_FILE);
  if (!fs.existsSync(currentFile)) {
    throw new VireoError(500, 'internal_error', `there is no master key at ${currentFile} to rotate`);
  }
  const current = readKeyFile(currentFile);
  const resumed = fs.existsSync(nextFile);
  if (!resumed) writeSecretFile(nextFile, `${randomBytes(KEY_BYTES).toString('base64')}\n`);
  const next = readKeyFile(nextFile);
  if (next.id === current.id) throw new Error('the new master key equals the current one');
  log.info({ from: current.id, to: next.id, resumed }, 'rotating the disk master key');

  const counts = await opts.db
    .transaction()
    .execute(async (tx) => {
      const locked = await sql<{
        ok: boolean;
      }>`SELECT pg_try_advisory_xact_lock(${ROTATION_LOCK}) AS ok`.execute(tx);
      if (!locked.rows[0]?.ok) throw new Error('another master key rotation is running: try again later');
      // No disk key may be added meanwhile under the old key (an engine sharing the database).
      await sql`LOCK TABLE disk_keys IN SHARE ROW EXCLUSIVE MODE`.execute(tx);
      const { rows } = await sql<{
        disk_id: string;
        ciphertext: Buffer;
        iv: Buffer;
        tag: Buffer;
        master_key_id: string;
      }>`SELECT disk_id, ciphertext, iv, tag, master_key_id FROM disk_keys ORDER BY disk_id`.execute(tx);
      let rewrapped = 0;
      let already = 0;
      for (const row of rows) {
        if (row.master_key_id === next.id) {
          already++;
          continue;
        }
        // unwrapDiskKey refuses a row under any other key: the whole rotation rolls back.
        const key = unwrapDiskKey(current, row.disk_id, {
          ciphertext: row.ciphertext,
          iv: row.iv,
          tag: row.tag,
          masterKeyId: row.master_key_id,
        });
        const w = wrapDiskKey(next, row.disk_id, key);
        key.fill(0);
        await sql`UPDATE disk_keys SET ciphertext = ${w.ciphertext}, iv = ${w.iv}, tag = ${w.tag},
                       master_key_id = ${w.masterKeyId}
                 WHERE disk_id = ${row.disk_id}`.execute(tx);
        rewrapped++;
      }
      await opts.audit.record(tx, {
        kind: 'engine.master_key_rotated',
        severity: 'info',
        message: `the disk master key was rotated (${rewrapped + already} disk keys now under key ${next.id})`,
        details: {
          previous_master_key_id: current.id,
          master_key_id: next.id,
          rewrapped,
          already,
          resumed,
        },
      });
      return { rewrapped, already };
    })
    .catch((err: unknown) => {
      // Rolled back: no row is under a key this run made, so it goes (a resumed run's key stays).
      if (!resumed) fs.rmSync(nextFile, { force: true });
      throw err;
    });

  fs.renameSync(nextFile, currentFile);
  const dir = fs.openSync(opts.secretsDir, 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  log.info({ from: current.id, to: next.id, ...counts }, 'disk master key rotated');
  return { previous_master_key_id: current.id, master_key_id: next.id, ...counts, resumed };
}
