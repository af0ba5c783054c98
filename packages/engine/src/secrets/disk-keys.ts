import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VireoError } from '../errors';
import { KEY_BYTES, type MasterKey } from './master-key';

/** A disk key as stored in `disk_keys`: AES-256-GCM ciphertext under the master key. */
export interface WrappedDiskKey {
  ciphertext: Buffer;
  iv: Buffer;
  tag: Buffer;
  masterKeyId: string;
}

/** A fresh random per-disk LUKS passphrase (32 bytes; sent to agents base64-encoded). */
export function newDiskKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

// The disk id is the GCM associated data: a wrapped key copied onto another disk's row fails to
// unwrap instead of silently opening the wrong disk.
function aad(diskId: string): Buffer {
  return Buffer.from(`vireo-disk-key:${diskId.toLowerCase()}`, 'utf8');
}

/** Encrypts `diskKey` for `diskId` under the master key (fresh 12-byte IV every time). */
export function wrapDiskKey(master: MasterKey, diskId: string, diskKey: Buffer): WrappedDiskKey {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master.key, iv);
  cipher.setAAD(aad(diskId));
  const ciphertext = Buffer.concat([cipher.update(diskKey), cipher.final()]);
  return { ciphertext, iv, tag: cipher.getAuthTag(), masterKeyId: master.id };
}

/**
 * Decrypts a wrapped disk key. Fails (internal_error, no key material in the message) when it was
 * wrapped under another master key, for another disk, or was tampered with.
 */
export function unwrapDiskKey(master: MasterKey, diskId: string, wrapped: WrappedDiskKey): Buffer {
  if (wrapped.masterKeyId !== master.id) {
    throw new VireoError(
      500,
      'internal_error',
      `the key of disk ${diskId} was wrapped under another master key`,
      {
        details: { disk_id: diskId, master_key_id: wrapped.masterKeyId },
      },
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', master.key, wrapped.iv);
    decipher.setAAD(aad(diskId));
    decipher.setAuthTag(wrapped.tag);
    return Buffer.concat([decipher.update(wrapped.ciphertext), decipher.final()]);
  } catch (err) {
    throw new VireoError(500, 'internal_error', `the key of disk ${diskId} does not decrypt`, {
      details: { disk_id: diskId },
      cause: err,
    });
  }
}
