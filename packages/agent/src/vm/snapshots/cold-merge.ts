import { randomUUID } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { MergeResult, VolumeMergeParams } from '@vireo/agent-protocol';
import { readQcow2Header } from '../../storage/image-header';
import { nfsColdMerge } from '../../storage/nfs/cold-merge';
import { escapeOptValue } from '../../storage/qemu-img';
import { writeSecretFiles } from '../../storage/volumes/encryption';
import { AgentError } from '../../util/errors';
import type { VmRuntime } from '../runtime';
import { canonical } from './graph';
import {
  MERGE_MARKER,
  type MergeMarker,
  mergeError,
  readMarker,
  refuseOtherMerge,
  removeMarker,
  syncDir,
  writeMarker,
} from './marker';
import { type ChainKeys, commitInto, rebaseUnsafe } from './volume-ops';

/**
 * `volume.merge`: merges `top` into its backing volume `base` with no VM running: marker (fsync'ed)
 * → `qemu-img commit` → marker `committed` → `qemu-img rebase -u` of top's child onto base → top
 * deleted → marker removed. Every step is safe to repeat, so a retry after a crash (of the agent or
 * of qemu-img) picks up where the marker says and finishes. Also finishes a live merge whose VM
 * went down, unless it stopped in the one ambiguous moment (`completing`, see marker.ts).
 */
export async function coldMerge(rt: VmRuntime, p: VolumeMergeParams): Promise<MergeResult> {
  // A disk on a userspace-mode nfs domain: a guestless QEMU commits over NFS (ADR 027 decision 16).
  const remote = rt.images.remote;
  if (remote?.owns(p.base_path)) {
    return nfsColdMerge(
      {
        remote,
        log: rt.log,
        progress: (jobId, state, value, error) => progress(rt, jobId, state, value, error),
        refuseIfRunning: async (dir, paths) => {
          for (const vm of rt.vms.values()) {
            if (vm.state === 'down' || !vm.spec) continue;
            if (vm.spec.disks.some((d) => dirname(d.path) === dir)) {
              throw new AgentError(
                'invalid_vm_state',
                `VM ${vm.name ?? vm.id} is ${vm.state} on this disk: use vm.merge`,
                {
                  details: { vm_id: vm.id, state: vm.state, paths },
                },
              );
            }
          }
        },
      },
      p,
    );
  }
  const dir = dirname(await rt.images.checkFile(p.base_path, '/base_path'));
  const top = join(dir, basename(p.top_path));
  const base = join(dir, basename(p.base_path));
  if ((await canonical(dirname(p.top_path))) !== dir) {
    throw new AgentError('invalid_params', 'top and base must be volumes of the same disk directory');
  }
  const log = rt.log.child({ action: 'volume.merge', top, base });
  const jobId = p.job_id ?? `merge-${randomUUID().slice(0, 8)}`;
  try {
    await refuseIfRunning(rt, dir, [top, base]);
    let marker = await readMarker(dir);
    refuseOtherMerge(marker, top, base);
    const topExists = await exists(top);
    if (!topExists) {
      if (!marker)
        throw new AgentError('image_not_found', `volume ${top} does not exist`, { details: { path: top } });
      if (marker.phase !== 'committed') {
        throw new AgentError('merge_failed', `volume ${top} is gone before its merge was committed`);
      }
    }
    if (!marker) {
      await rt.images.checkFile(top, '/top_path');
      const header = await readQcow2Header(top);
      if (!header || header.backingFile !== basename(base)) {
        throw new AgentError(
          'invalid_params',
          `${basename(base)} is not the backing volume of ${basename(top)}`,
        );
      }
      marker = {
        version: 1,
        kind: 'cold',
        vm_id: null,
        disk_id: null,
        top: basename(top),
        base: basename(base),
        child: await soleChild(dir, basename(top), basename(base)),
        phase: 'started',
        job_id: jobId,
        started_at: new Date().toISOString(),
      } satisfies MergeMarker;
      await writeMarker(dir, marker);
    }
    const already = marker.phase === 'committed';
    progress(rt, marker.job_id, 'running', 0);
    const keyFiles = p.encryption
      ? await writeSecretFiles(join(rt.cfg.stateDir, 'secrets'), {
          [OWN_KEY]: p.encryption.secret,
          ...(p.encryption.base_secret ? { [BASE_KEY]: p.encryption.base_secret } : {}),
        })
      : undefined;
    try {
      if (marker.phase === 'started') {
        log.info({ retry: marker.kind === 'live' }, 'committing');
        const keys = await chainKeys(rt, top, dir, keyFiles?.files);
        await commitInto(top, base, p.speed_bytes_per_s ?? 0, keys);
        marker.phase = 'committed';
        await writeMarker(dir, marker);
      }
      const baseFormat = (await readQcow2Header(base)) ? 'qcow2' : 'raw';
      if (marker.child) {
        const child = join(dir, marker.child);
        const keys = await chainKeys(rt, child, dir, keyFiles?.files, true);
        await rebaseUnsafe(child, marker.base, baseFormat, keys);
      }
    } finally {
      await keyFiles?.remove();
    }
    await rm(top, { force: true });
    await syncDir(dir);
    await removeMarker(dir);
    progress(rt, marker.job_id, 'succeeded', 1);
    log.info('merge finished');
    return {
      base_path: base,
      removed_path: top,
      rebased_path: marker.child ? join(dir, marker.child) : null,
      already_done: already,
    };
  } catch (err) {
    progress(rt, jobId, 'failed', 0, (err as Error).message);
    throw mergeError(err, `merging ${basename(top)} into ${basename(base)}`);
  }
}

/** Secret ids qemu-img gets for a disk's own volumes and for another disk's (template) volumes. */
const OWN_KEY = 'vireo-own';
const BASE_KEY = 'vireo-base';

/**
 * The keys of `path`'s chain for qemu-img (ADR 022): a layer in the disk's directory opens with the
 * disk's key, a layer elsewhere with the template's. `undefined` for a plain chain (qemu-img then
 * runs exactly as for any plain disk). `firstOnly`: only `path` itself is opened (`rebase -u`).
 */
async function chainKeys(
  rt: VmRuntime,
  path: string,
  dir: string,
  files: Record<string, string> | undefined,
  firstOnly = false,
): Promise<ChainKeys | undefined> {
  // The child of a merge committed before a crash names a backing file that is gone: read only
  // its own header then.
  const layers = firstOnly
    ? [
        {
          path,
          cryptMethod:
            (await readQcow2Header(await rt.images.checkFile(path, '/top_path')))?.cryptMethod ?? 0,
        },
      ]
    : await rt.images.checkChain(path, 'qcow2', '/top_path');
  if (!layers.some((l) => l.cryptMethod !== 0)) return undefined;
  const ids = layers.map((l) => {
    if (l.cryptMethod === 0) return undefined;
    const id = dirname(l.path) === dir ? OWN_KEY : BASE_KEY;
    if (!files?.[id]) {
      throw new AgentError(
        'invalid_params',
        `volume ${basename(l.path)} is encrypted: the merge needs its key`,
        {
          details: { where: '/encryption', path: l.path },
        },
      );
    }
    return id;
  });
  const objects = Object.entries(files ?? {}).flatMap(([id, file]) => [
    '--object',
    `secret,id=${id},format=raw,file=${escapeOptValue(file)}`,
  ]);
  return { objects, layers: ids };
}

function progress(
  rt: VmRuntime,
  jobId: string,
  state: 'running' | 'succeeded' | 'failed',
  value: number,
  error?: string,
): void {
  rt.emit('job.progress', {
    job_id: jobId,
    kind: 'merge',
    state,
    progress: value,
    ...(error ? { error: { code: 'merge_failed', message: error.slice(0, 500) } } : {}),
  });
}

async function exists(path: string): Promise<boolean> {
  const { stat } = await import('node:fs/promises');
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * The one volume backed by `top`, if any. A second child of `top`, or a second child of `base`
 * (a preview branch), would read wrong data after the merge: refused.
 */
async function soleChild(dir: string, top: string, base: string): Promise<string | null> {
  const children: string[] = [];
  const siblings: string[] = [];
  for (const name of await readdir(dir)) {
    if (name === MERGE_MARKER || name.endsWith('.tmp') || name === top || name === base) continue;
    const header = await readQcow2Header(join(dir, name)).catch(() => undefined);
    if (header?.backingFile === top) children.push(name);
    if (header?.backingFile === base) siblings.push(name);
  }
  if (children.length > 1 || siblings.length > 0) {
    throw new AgentError(
      'merge_failed',
      `the chain branches at ${children.length > 1 ? top : base}; merging would change another branch`,
      {
        details: { children, siblings },
      },
    );
  }
  return children[0] ?? null;
}

/** A cold merge of volumes a running VM uses would corrupt them (QEMU's locks would refuse anyway). */
async function refuseIfRunning(rt: VmRuntime, dir: string, paths: string[]): Promise<void> {
  for (const vm of rt.vms.values()) {
    if (vm.state === 'down' || !vm.spec) continue;
    for (const disk of vm.spec.disks) {
      if (dirname(await canonical(disk.path)) === dir) {
        throw new AgentError(
          'invalid_vm_state',
          `VM ${vm.name ?? vm.id} is ${vm.state} on this disk: use vm.merge`,
          {
            details: { vm_id: vm.id, state: vm.state, paths },
          },
        );
      }
    }
  }
}
