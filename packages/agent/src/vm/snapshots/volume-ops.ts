import { CONVERT_LIMITS, runQemuImg } from '../../storage';

/**
 * qemu-img steps of snapshots and merges. Formats are always explicit; backing files are named by
 * file name only (a disk's volumes share one directory, which keeps a domain relocatable).
 */

/**
 * A qcow2 overlay on a volume a running QEMU holds: `-u` skips opening the backing file (it is
 * locked), so the virtual size must be given.
 */
export async function createOverlayUnsafe(options: {
  path: string;
  backingName: string;
  backingFormat: 'qcow2' | 'raw';
  sizeBytes: number;
}): Promise<void> {
  await runQemuImg([
    'create',
    '-q',
    '-f',
    'qcow2',
    '-u',
    '-b',
    options.backingName,
    '-F',
    options.backingFormat,
    options.path,
    String(options.sizeBytes),
  ]);
}

/**
 * `qemu-img commit -d`: writes every cluster `top` holds into its backing file and leaves `top`
 * as it is (it is deleted afterwards). Re-running it after an interruption writes the same data
 * again, so it is idempotent as long as `top` and its backing link are intact.
 */
export async function commitInto(top: string, base: string, rateBytesPerS = 0): Promise<void> {
  const rate = rateBytesPerS > 0 ? ['-r', String(rateBytesPerS)] : [];
  await runQemuImg(['commit', '-q', '-f', 'qcow2', ...rate, '-d', '-b', base, top], {
    limits: CONVERT_LIMITS,
  });
}

/**
 * `qemu-img rebase -u`: points `child`'s backing file at `baseName` without copying anything. Only
 * correct when the new backing file reads the same as the old one (after a commit, it does).
 */
export async function rebaseUnsafe(
  child: string,
  baseName: string,
  baseFormat: 'qcow2' | 'raw',
): Promise<void> {
  await runQemuImg(['rebase', '-q', '-f', 'qcow2', '-u', '-b', baseName, '-F', baseFormat, child]);
}
