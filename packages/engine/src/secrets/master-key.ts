import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { VireoError } from '../errors';
import { assertPrivate, writeSecretFile } from '../pki/files';

/** Length of the engine's master key and of every disk key it wraps (AES-256). */
export const KEY_BYTES = 32;

/**
 * The engine's master key: it wraps (encrypts) every per-disk LUKS key stored in `disk_keys`, so a
 * database dump alone never reveals a disk key. `id` is a short fingerprint recorded next to each
 * wrapped key, so a key wrapped under another master key is recognised instead of failing opaquely.
 */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/** File name of the master key inside the engine's secrets directory. */
export const MASTER_KEY_FILE = 'disk-master.key';

function fingerprint(key: Buffer): string {
  return createHash('sha256').update('vireo-disk-master-key\0').update(key).digest('hex').slice(0, 16);
}

/** A master key from its 32 bytes (with its fingerprint). */
export function masterKeyFrom(key: Buffer): MasterKey {
  return { id: fingerprint(key), key };
}

/**
 * Loads `<secretsDir>/disk-master.key` (base64 of 32 bytes, mode 0600), creating it with fresh
 * random bytes when missing. A file that others can read, or that does not hold exactly 32 bytes,
 * is refused: silently replacing it would orphan every encrypted disk.
 */
export function loadOrCreateMasterKey(secretsDir: string): MasterKey {
  const file = path.join(secretsDir, MASTER_KEY_FILE);
  // A rotation that stopped half way (master-key-rotation.ts) may have re-wrapped some disk keys
  // under the next key already: starting on either key alone could not open every disk.
  if (fs.existsSync(`${file}.next`)) {
    throw new VireoError(
      500,
      'internal_error',
      `a disk master key rotation did not finish (${file}.next exists): run "vireo-engine keys rotate" to finish it`,
    );
  }
  if (!fs.existsSync(file)) {
    writeSecretFile(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`);
  }
  try {
    assertPrivate(file);
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`holds ${key.length} bytes, not ${KEY_BYTES}`);
    return { id: fingerprint(key), key };
  } catch (err) {
    throw new VireoError(500, 'internal_error', `the disk master key ${file} is unusable`, { cause: err });
  }
}
