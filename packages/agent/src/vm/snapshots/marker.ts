import { open, readFile, rename, rm } from 'node:fs/promises';
import type { DiskDirFiles, RemoteImages } from '../../storage/nfs/images';
import { basename, dirname, join } from 'node:path';
import type { VmSpec } from '@vireo/agent-protocol';
import { AgentError, toAgentError } from '../../util/errors';

/** File name of the merge marker inside a disk's directory. */
export const MERGE_MARKER = 'merge.json';

/**
 * Where a merge is:
 * - `started`: the top volume still holds the truth (a retry commits it into the base again).
 * - `completing`: live active-layer merge only: `job-complete` was sent, so QEMU may already write
 *   to the base alone. If QEMU and the agent both died now, nobody can tell which volume is
 *   current: the marker then blocks the disk until a person decides.
 * - `committed`: the base holds the truth; what is left is rebasing the child and deleting the top.
 */
export type MergePhase = 'started' | 'completing' | 'committed';

/** What `merge.json` holds: enough to finish or judge an interrupted merge. */
export interface MergeMarker {
  version: 1;
  kind: 'live' | 'cold';
  vm_id: string | null;
  disk_id: string | null;
  /** File names inside the disk directory (the marker's own directory). */
  top: string;
  base: string;
  /** The volume backed by `top` (an inner merge), whose backing file must end up naming `base`. */
  child: string | null;
  phase: MergePhase;
  job_id: string;
  started_at: string;
}

export function markerPath(diskDir: string): string {
  return join(diskDir, MERGE_MARKER);
}

/** The marker of this disk directory, or undefined. A marker that cannot be read is an error. */
export async function readMarker(diskDir: string, remote?: DiskDirFiles): Promise<MergeMarker | undefined> {
  let text: string;
  if (remote) {
    // A disk directory on a userspace-mode nfs domain (ADR 027): read over NFS.
    const got = await remote.read(MERGE_MARKER, 64 * 1024);
    if (!got) return undefined;
    text = got.toString('utf8');
  } else {
    try {
      text = await readFile(markerPath(diskDir), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  try {
    const m = JSON.parse(text) as MergeMarker;
    if (m.version !== 1 || typeof m.top !== 'string' || typeof m.base !== 'string')
      throw new Error('bad fields');
    return m;
  } catch (err) {
    throw new AgentError('merge_pending', `merge marker in ${diskDir} is unreadable`, {
      cause: err,
      details: { dir: diskDir },
    });
  }
}

/**
 * Writes the marker durably: a temporary file fsync'ed, renamed over the marker, and the directory
 * fsync'ed, so after a crash the marker is either the old one or the new one, never half written.
 */
export async function writeMarker(
  diskDir: string,
  marker: MergeMarker,
  remote?: DiskDirFiles,
): Promise<void> {
  if (remote) {
    // NFSv3: the temporary file is written FILE_SYNC and renamed over the marker; the server
    // commits both before it answers, which is what the fsyncs do locally.
    await remote.write(MERGE_MARKER, Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
    return;
  }
  const target = markerPath(diskDir);
  const tmp = `${target}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(marker, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, target);
  await syncDir(diskDir);
}

/**
 * Refuses a merge of `top` into `base` while the disk holds the marker of another merge
 * (`merge_pending`), or of a live merge that stopped while QEMU was switching volumes
 * (`merge_failed`: which volume is current cannot be told from here).
 */
export function refuseOtherMerge(marker: MergeMarker | undefined, top: string, base: string): void {
  if (marker && (marker.top !== basename(top) || marker.base !== basename(base))) {
    throw new AgentError('merge_pending', `another merge (${marker.top} into ${marker.base}) is unfinished`, {
      details: { top: marker.top, base: marker.base, phase: marker.phase },
    });
  }
  if (marker?.phase === 'completing') {
    throw new AgentError(
      'merge_failed',
      `the live merge of ${marker.top} stopped while QEMU was switching to ${marker.base}: which volume is current cannot be told; a person must decide`,
      { details: { top: marker.top, base: marker.base, phase: marker.phase } },
    );
  }
}

/** Removes the marker (the merge is over) durably. */
export async function removeMarker(diskDir: string, remote?: DiskDirFiles): Promise<void> {
  if (remote) return remote.remove(MERGE_MARKER);
  await rm(markerPath(diskDir), { force: true });
  await syncDir(diskDir);
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The start path's guard: a disk whose directory holds a merge marker must not run until the merge
 * is finished (`volume.merge`, which is idempotent), because the spec's chain may be the stale one.
 */
export async function refusePendingMerges(spec: Pick<VmSpec, 'disks'>, remote?: RemoteImages): Promise<void> {
  for (const disk of spec.disks) {
    if (disk.readonly) continue;
    const dir = dirname(disk.path);
    // A disk on a userspace-mode nfs domain keeps its marker on the export (ADR 027).
    const marker = await readMarker(dir, remote?.owns(disk.path) ? remote.diskFiles(dir) : undefined);
    if (!marker) continue;
    // One directory per disk in storage domains; the older flat image directory holds many disks.
    const name = basename(disk.path);
    if (name !== marker.top && name !== marker.base && name !== marker.child) continue;
    throw new AgentError(
      'merge_pending',
      `disk ${disk.id} has an unfinished merge of ${marker.top} into ${marker.base} (${marker.phase}); finish it with volume.merge first`,
      {
        details: {
          disk_id: disk.id,
          path: disk.path,
          top_path: join(dir, marker.top),
          base_path: join(dir, marker.base),
          phase: marker.phase,
        },
      },
    );
  }
}

/** Failures of qemu-img or of the block job become `merge_failed`; coded agent errors keep their code. */
export function mergeError(err: unknown, context: string): AgentError {
  const inner = toAgentError(err);
  const code = inner.code === 'internal_error' ? 'merge_failed' : inner.code;
  return new AgentError(code, `${context}: ${inner.message}`, { cause: err, details: inner.details });
}
