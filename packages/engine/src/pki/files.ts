import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes a file atomically (temp file + rename) with the given mode, so a crash never leaves a
 * half-written key or certificate, and a secret is never readable by others even for a moment.
 */
export function writeFileAtomic(file: string, content: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  // The umask may have narrowed (never widened) the mode; set it exactly.
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** A secret (private key, password): owner-only, 0600. */
export function writeSecretFile(file: string, content: string): void {
  writeFileAtomic(file, content, 0o600);
}

/** A public artefact (certificate): world-readable, 0644. */
export function writePublicFile(file: string, content: string): void {
  writeFileAtomic(file, content, 0o644);
}

/** Refuses a secret file that others could read (someone loosened it by hand). */
export function assertPrivate(file: string): void {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(
      `${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
    );
  }
}
