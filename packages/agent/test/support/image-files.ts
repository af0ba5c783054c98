import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { StorageError } from '../../src/storage/errors';

// Crafting hostile image files for the image gate's tests: real qemu-img images, then bytes patched.

/** Runs qemu-img; its stdout as text (its stderr is in the error when it fails). */
export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: 'pipe' });
}

/** Overwrites bytes of `path` at `offset`. */
export function patchFile(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** A 64-bit header field: big-endian (qcow2) or little-endian (VMDK). */
export function u64(value: bigint, endian: 'be' | 'le'): Buffer {
  const b = Buffer.alloc(8);
  if (endian === 'be') b.writeBigUInt64BE(value);
  else b.writeBigUInt64LE(value);
  return b;
}

/**
 * A temporary directory `prefix…` made before the file's tests and removed after them; `path` is
 * readable only inside the tests and hooks registered after this call.
 */
export function useTempDir(prefix: string): { readonly path: string } {
  let dir: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      if (!dir) throw new Error(`the ${prefix} directory exists only while the tests run`);
      return dir;
    },
  };
}

/** The StorageError `work` fails with (the test fails when it succeeds or fails otherwise). */
export async function refusalOf(work: Promise<unknown>): Promise<StorageError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the image should have been refused').toBeInstanceOf(StorageError);
  return error as StorageError;
}
