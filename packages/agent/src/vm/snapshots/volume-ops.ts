import { rm } from 'node:fs/promises';
import { CONVERT_LIMITS, runQemuImg } from '../../storage';
import { escapeOptValue, retryLuksBenchmark } from '../../storage/qemu-img';
import { luksCreateOptions } from '../../storage/volumes/encryption';

/**
 * qemu-img steps of snapshots and merges. Formats are always explicit; backing files are named by
 * file name only (a disk's volumes share one directory, which keeps a domain relocatable).
 */

/**
 * A qcow2 overlay on a volume a running QEMU holds: `-u` skips opening the backing file (it is
 * locked), so the virtual size must be given. With `secretFile` (a 0600 file holding the disk's
 * key) the overlay is LUKS-encrypted (ADR 022); QEMU's PBKDF calibration flake is retried.
 */
export async function createOverlayUnsafe(options: {
  path: string;
  backingName: string;
  backingFormat: 'qcow2' | 'raw';
  sizeBytes: number;
  secretFile?: string;
}): Promise<void> {
  const encryption = options.secretFile
    ? [
        '--object',
        `secret,id=vireo-sec0,format=raw,file=${escapeOptValue(options.secretFile)}`,
        '-o',
        luksCreateOptions('vireo-sec0').join(','),
      ]
    : [];
  const args = [
    'create',
    '-q',
    '-f',
    'qcow2',
    ...encryption,
    '-u',
    '-b',
    options.backingName,
    '-F',
    options.backingFormat,
    options.path,
    String(options.sizeBytes),
  ];
  // A failed try leaves no file behind (qemu-img gives up before writing the header).
  await retryLuksBenchmark(
    () => runQemuImg(args),
    () => rm(options.path, { force: true }),
  );
}

/**
 * `qemu-img commit -d`: writes every cluster `top` holds into its backing file and leaves `top`
 * as it is (it is deleted afterwards). Re-running it after an interruption writes the same data
 * again, so it is idempotent as long as `top` and its backing link are intact.
 */
export async function commitInto(
  top: string,
  base: string,
  rateBytesPerS = 0,
  keys?: ChainKeys,
): Promise<void> {
  const rate = rateBytesPerS > 0 ? ['-r', String(rateBytesPerS)] : [];
  // With --image-opts qemu-img cannot find `-b` by name in the chain (its names become json:{…});
  // without `-b` it commits into top's own backing file, which the caller checked is `base`.
  const args = keys
    ? [...keys.objects, '--image-opts', ...rate, '-d', chainImageOpts(top, keys.layers)]
    : ['-f', 'qcow2', ...rate, '-d', '-b', base, top];
  await runQemuImg(['commit', '-q', ...args], { limits: CONVERT_LIMITS });
}

/**
 * How qemu-img opens an encrypted chain: `--object secret` arguments naming 0600 key files (never
 * the keys), and the secret id of each layer from the top down (`undefined` for a plain layer).
 */
export interface ChainKeys {
  objects: string[];
  layers: (string | undefined)[];
}

/** `--image-opts` of a qcow2 whose chain layers each get their key (`backing.` once per level). */
function chainImageOpts(path: string, layers: (string | undefined)[]): string {
  const opts = [`driver=qcow2,file.driver=file,file.filename=${escapeOptValue(path)}`];
  layers.forEach((id, depth) => {
    if (id) opts.push(`${'backing.'.repeat(depth)}encrypt.key-secret=${id}`);
  });
  return opts.join(',');
}

/**
 * `qemu-img rebase -u`: points `child`'s backing file at `baseName` without copying anything. Only
 * correct when the new backing file reads the same as the old one (after a commit, it does).
 */
export async function rebaseUnsafe(
  child: string,
  baseName: string,
  baseFormat: 'qcow2' | 'raw',
  keys?: ChainKeys,
): Promise<void> {
  // `-u` opens the child alone (no backing file), but an encrypted child still needs its own key.
  const image = keys ? [...keys.objects, '--image-opts'] : ['-f', 'qcow2'];
  const target = keys ? chainImageOpts(child, keys.layers.slice(0, 1)) : child;
  await runQemuImg(['rebase', '-q', ...image, '-u', '-b', baseName, '-F', baseFormat, target]);
}
