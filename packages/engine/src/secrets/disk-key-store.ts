import { sql } from 'kysely';
import type { Executor } from '../db/schema';
import { newDiskKey, unwrapDiskKey, wrapDiskKey } from './disk-keys';
import type { MasterKey } from './master-key';

// disk_keys and disks.encrypted (migration 0014) are read and written only here, with plain SQL,
// so the shared typed schema does not need to know about key material.

/**
 * Gives `diskId` a fresh random key: stores it wrapped under the master key and marks the disk
 * encrypted, in the caller's transaction. Returns the key as agents take it (base64); callers pass
 * it straight to `volume.create` and never log it.
 */
export async function createDiskKey(ex: Executor, master: MasterKey, diskId: string): Promise<string> {
  const key = newDiskKey();
  const w = wrapDiskKey(master, diskId, key);
  await sql`INSERT INTO disk_keys (disk_id, ciphertext, iv, tag, master_key_id)
            VALUES (${diskId}, ${w.ciphertext}, ${w.iv}, ${w.tag}, ${w.masterKeyId})`.execute(ex);
  await sql`UPDATE disks SET encrypted = true WHERE id = ${diskId}`.execute(ex);
  return key.toString('base64');
}

/** The key of an encrypted disk (base64), or undefined for a plain disk. */
export async function diskKeyOf(
  ex: Executor,
  master: MasterKey,
  diskId: string,
): Promise<string | undefined> {
  const { rows } = await sql<{ ciphertext: Buffer; iv: Buffer; tag: Buffer; master_key_id: string }>`
    SELECT ciphertext, iv, tag, master_key_id FROM disk_keys WHERE disk_id = ${diskId}`.execute(ex);
  const row = rows[0];
  if (!row) return undefined;
  return unwrapDiskKey(master, diskId, {
    ciphertext: row.ciphertext,
    iv: row.iv,
    tag: row.tag,
    masterKeyId: row.master_key_id,
  }).toString('base64');
}

/** Whether a disk is encrypted (its volumes need its key to open). */
export async function isDiskEncrypted(ex: Executor, diskId: string): Promise<boolean> {
  const { rows } = await sql<{
    encrypted: boolean;
  }>`SELECT encrypted FROM disks WHERE id = ${diskId}`.execute(ex);
  return rows[0]?.encrypted === true;
}
