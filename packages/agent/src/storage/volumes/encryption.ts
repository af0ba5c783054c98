import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../../util/errors';
import { StorageError } from '../errors';
import { escapeOptValue as esc, runQemuImg } from '../qemu-img';

/**
 * PBKDF2 time per LUKS key slot, in ms. Engine keys are 32 random bytes, so key stretching adds no
 * strength (nobody can guess 256 bits); what it costs is time on every open — each VM start and
 * each qemu-img run. QEMU's default (2 s) is replaced by the shortest value: QEMU then uses its
 * floor of 1000 iterations. At 20 ms an open cost ≈ 50 ms more than a plain image's; see ADR 022.
 */
export const LUKS_ITER_TIME_MS = 1;

/** qemu-img `-o` options that make a new image LUKS-encrypted with the secret object `secretId`. */
export function luksCreateOptions(secretId: string): string[] {
  return ['encrypt.format=luks', `encrypt.key-secret=${secretId}`, `encrypt.iter-time=${LUKS_ITER_TIME_MS}`];
}

/** Marker QEMU prints when a LUKS header rejects the key. */
const WRONG_KEY = /Invalid password|cannot unlock any keyslot/i;

/** True when a QEMU or qemu-img failure is a LUKS header refusing the key. */
export function isWrongKeyFailure(err: unknown): boolean {
  const e = err as { message?: unknown; details?: { stderr?: unknown } } | null;
  return WRONG_KEY.test(`${String(e?.message ?? '')}\n${String(e?.details?.stderr ?? '')}`);
}

/**
 * Writes each secret to its own 0600 file in a fresh 0700 directory under `baseDir`, so no other
 * user (and no other VM's QEMU) can read it, and returns the paths by id plus the undo. Callers
 * remove the files as soon as QEMU has read them. The values are never logged or put on argv:
 * only the paths travel.
 */
export async function writeSecretFiles(
  baseDir: string,
  secrets: Record<string, string>,
): Promise<{ files: Record<string, string>; remove: () => Promise<void> }> {
  await mkdir(baseDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(baseDir, 'sec-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const files: Record<string, string> = {};
    for (const [id, value] of Object.entries(secrets)) {
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(id)) {
        throw new AgentError('invalid_params', `secret id "${id}" is not valid`);
      }
      const file = join(dir, `${id}.key`);
      // 'wx': a file planted in between is never reused.
      await writeFile(file, value, { mode: 0o600, flag: 'wx' });
      files[id] = file;
    }
    return { files, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Runs `fn` with one secret in a 0600 file that is removed afterwards, whatever `fn` does. */
export async function withSecretFile<T>(
  baseDir: string,
  secret: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const { files, remove } = await writeSecretFiles(baseDir, { key: secret });
  try {
    return await fn(files.key as string);
  } finally {
    await remove();
  }
}

/**
 * Opens an encrypted qcow2 volume with the key in `secretFile` (qemu-img check: a full open,
 * LUKS header included, without writing). A wrong key is `encryption_key_invalid`.
 */
export async function verifyVolumeKey(path: string, secretFile: string): Promise<void> {
  try {
    await runQemuImg(
      [
        'check',
        '-q',
        '-U',
        '--object',
        `secret,id=vireo-sec0,format=raw,file=${esc(secretFile)}`,
        '--image-opts',
        `driver=qcow2,file.driver=file,file.filename=${esc(path)},encrypt.format=luks,encrypt.key-secret=vireo-sec0`,
      ],
      // check reports leaks (3) and corruptions (2) with its own exit codes; a good key is what counts.
      { okExitCodes: [0, 2, 3] },
    );
  } catch (err) {
    if (isWrongKeyFailure(err)) {
      throw new StorageError(
        'encryption_key_invalid',
        'the key does not open the volume',
        {},
        { cause: err },
      );
    }
    throw err;
  }
}
