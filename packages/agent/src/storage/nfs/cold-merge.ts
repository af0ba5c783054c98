import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { MergeResult, VolumeMergeParams } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { layerNodes } from '../../qemu/argv/drives';
import { nfsFileNode } from '../../qemu/argv/nfs';
import type { LaunchPlan } from '../../qemu/argv/types';
import { QmpClient } from '../../qemu/qmp/client';
import { AgentError } from '../../util/errors';
import {
  type MergeMarker,
  mergeError,
  readMarker,
  refuseOtherMerge,
  removeMarker,
  writeMarker,
} from '../../vm/snapshots/marker';
import type { RemoteImages, RemoteLayer } from './images';

/** A merge copies whole volumes: hours are possible on slow storage. */
const JOB_TIMEOUT_MS = 24 * 3600_000;
const VOLUME_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface NfsColdMergeDeps {
  remote: RemoteImages;
  log: Logger;
  progress(jobId: string, state: 'running' | 'succeeded' | 'failed', value: number, error?: string): void;
  /** Throws when a running VM uses the disk directory (cold merges only). */
  refuseIfRunning(dir: string, paths: string[]): Promise<void>;
}

/**
 * `volume.merge` on a userspace-mode nfs domain (ADR 027 decision 16). qemu-img cannot open an nfs
 * chain (decision 14), so a guestless QEMU (`-machine none`, QMP on a socket in a private 0700
 * directory) gets one explicit nfs node pair per layer, as a VM start opens them, and runs the
 * commit the way `vm.merge` does: an inner layer by `block-commit` from the child's node with
 * `backing-file` (QEMU rewrites the child's header to name the base), the top layer by
 * `block-commit` → ready → `job-complete`. Keys go by QMP `object-add`, never on the command line.
 * The merge marker lives in the disk directory over NFS with the local phases, so a retry after a
 * crash finishes from where the marker says; the merged volume is removed over NFS at the end.
 */
export async function nfsColdMerge(deps: NfsColdMergeDeps, p: VolumeMergeParams): Promise<MergeResult> {
  const { remote } = deps;
  const base = await remote.checkVolume(p.base_path, '/base_path');
  const dir = dirname(base);
  const top = join(dir, basename(p.top_path));
  if (dirname(p.top_path) !== dir) {
    throw new AgentError('invalid_params', 'top and base must be volumes of the same disk directory');
  }
  const log = deps.log.child({ action: 'volume.merge', top, base, nfs: true });
  const jobId = p.job_id ?? `merge-${randomUUID().slice(0, 8)}`;
  const files = remote.diskFiles(dir);
  try {
    await deps.refuseIfRunning(dir, [top, base]);
    let marker = await readMarker(dir, files);
    refuseOtherMerge(marker, top, base);
    const names = await files.list();
    if (!names.includes(basename(top))) {
      if (!marker)
        throw new AgentError('image_not_found', `volume ${top} does not exist`, { details: { path: top } });
      if (marker.phase !== 'committed') {
        throw new AgentError('merge_failed', `volume ${top} is gone before its merge was committed`);
      }
    }
    if (!marker) {
      const chain = await remote.checkChain(top, 'qcow2', '/top_path');
      if (chain[1]?.path !== base) {
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
        child: await soleChild(remote, dir, names, top, base),
        phase: 'started',
        job_id: jobId,
        started_at: new Date().toISOString(),
      } satisfies MergeMarker;
      await writeMarker(dir, marker, files);
    }
    const already = marker.phase === 'committed';
    deps.progress(marker.job_id, 'running', 0);
    if (marker.phase === 'started') {
      log.info({ retry: marker.kind === 'live' }, 'committing in a guestless QEMU');
      const child = marker.child ? join(dir, marker.child) : undefined;
      const chain = await remote.checkChain(child ?? top, 'qcow2', '/top_path');
      // QEMU rewrites the child's header only after the data is all in base: a child already
      // naming base means a crash came between that and the marker's `committed`.
      const done = child !== undefined && chain[1]?.path === base;
      if (!done)
        await commitOverNfs(remote, dir, chain, top, base, p, (v) =>
          deps.progress(marker.job_id, 'running', v),
        );
      marker.phase = 'committed';
      await writeMarker(dir, marker, files);
    }
    // The child's header was rewritten by QEMU when the commit concluded: nothing to rebase.
    await remote.removeVolume(top);
    await removeMarker(dir, files);
    deps.progress(marker.job_id, 'succeeded', 1);
    log.info('merge finished');
    return {
      base_path: base,
      removed_path: top,
      rebased_path: marker.child ? join(dir, marker.child) : null,
      already_done: already,
    };
  } catch (err) {
    deps.progress(jobId, 'failed', 0, (err as Error).message);
    throw mergeError(err, `merging ${basename(top)} into ${basename(base)}`);
  }
}

/** The one volume of the directory backed by `top`; a second one, or a sibling of `top`, refused. */
async function soleChild(
  remote: RemoteImages,
  dir: string,
  names: string[],
  top: string,
  base: string,
): Promise<string | null> {
  const children: string[] = [];
  const siblings: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!VOLUME_NAME.test(name) || path === top || path === base) continue;
    const chain = await remote.checkChain(path, 'qcow2', '/top_path').catch(() => undefined);
    if (chain?.[1]?.path === top) children.push(name);
    if (chain?.[1]?.path === base) siblings.push(name);
  }
  if (children.length > 1 || siblings.length > 0) {
    throw new AgentError(
      'merge_failed',
      `the chain branches at ${children.length > 1 ? basename(top) : basename(base)}; merging would change another branch`,
      { details: { children, siblings } },
    );
  }
  return children[0] ?? null;
}

const OWN_KEY = 'vireo-own';
const BASE_KEY = 'vireo-base';

async function commitOverNfs(
  remote: RemoteImages,
  dir: string,
  chain: RemoteLayer[],
  top: string,
  base: string,
  p: VolumeMergeParams,
  onProgress: (v: number) => void,
): Promise<void> {
  const ti = chain.findIndex((l) => l.path === top);
  if (ti < 0 || chain[ti + 1]?.path !== base) {
    throw new AgentError('merge_failed', `${basename(base)} is not the backing volume of ${basename(top)}`);
  }
  const keyOf = (l: RemoteLayer): string | undefined => {
    if (l.cryptMethod === 0) return undefined;
    const id = dirname(l.path) === dir ? OWN_KEY : BASE_KEY;
    const secret = id === OWN_KEY ? p.encryption?.secret : p.encryption?.base_secret;
    if (!secret) {
      throw new AgentError(
        'invalid_params',
        `volume ${basename(l.path)} is encrypted: the merge needs its key`,
        {
          details: { where: '/encryption', path: l.path },
        },
      );
    }
    return id;
  };
  const keys = chain.map(keyOf);
  const plan = {
    nfsImages: remote.nfsImagesOf({ disks: [] } as never, {
      chain: chain.map((l) => ({ path: l.path, format: l.format, writable: false })),
    }),
  } as unknown as LaunchPlan;
  const nodeName = (i: number) => ({ format: `l${i}`, file: `f${i}` });

  const sockDir = await mkdtemp(join(tmpdir(), 'vireo-merge-'));
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-machine',
      'none',
      '-nodefaults',
      '-display',
      'none',
      '-accel',
      'tcg',
      '-S',
      '-qmp',
      `unix:${join(sockDir, 'qmp.sock')},server=on,wait=off`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  qemu.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => qemu.once('close', () => resolve()));
  let qmp: QmpClient | undefined;
  try {
    qmp = await QmpClient.connect(join(sockDir, 'qmp.sock'), {
      waitForSocket: true,
      timeoutMs: 60_000,
    }).catch((err) => {
      throw new AgentError(
        'merge_failed',
        `QEMU for the merge did not start: ${stderr || (err as Error).message}`,
      );
    });
    for (const id of new Set(keys.filter((k): k is string => !!k))) {
      const data = id === OWN_KEY ? p.encryption?.secret : p.encryption?.base_secret;
      await qmp.executeUntyped('object-add', { 'qom-type': 'secret', id, data, format: 'raw' });
    }
    // Bottom up: each format node names the node below as its backing.
    for (let i = chain.length - 1; i >= 0; i--) {
      const l = chain[i] as RemoteLayer;
      const nodes = layerNodes(
        { readonly: false },
        {
          path: l.path,
          format: l.format,
          writable: dirname(l.path) === dir,
          ...(keys[i] ? { secretId: keys[i] } : {}),
        },
        nodeName(i),
        i + 1 < chain.length ? nodeName(i + 1).format : null,
      );
      await qmp.executeUntyped('blockdev-add', nfsFileNode(plan, l.path, `/chain/${i}`, nodes.file), {
        timeoutMs: 120_000,
      });
      await qmp.executeUntyped('blockdev-add', nodes.format, { timeoutMs: 120_000 });
    }
    const job = 'merge';
    const speed = p.speed_bytes_per_s ?? 0;
    const concluded = qmp.waitForEvent(
      'JOB_STATUS_CHANGE',
      (e) =>
        (e.data as { id?: string; status?: string } | undefined)?.id === job &&
        (e.data as { status?: string }).status === 'concluded',
      { timeoutMs: JOB_TIMEOUT_MS },
    );
    const timer = setInterval(() => {
      qmp
        ?.executeUntyped('query-jobs')
        .then((jobs) => {
          const j = (
            jobs as Array<{ id: string; 'current-progress': number; 'total-progress': number }>
          ).find((x) => x.id === job);
          if (j && j['total-progress'] > 0)
            onProgress(Math.min(0.99, j['current-progress'] / j['total-progress']));
        })
        .catch(() => undefined);
    }, 1000);
    try {
      if (ti > 0) {
        await qmp.executeUntyped('block-commit', {
          'job-id': job,
          device: nodeName(0).format,
          'top-node': nodeName(ti).format,
          'base-node': nodeName(ti + 1).format,
          'backing-file': basename(base),
          'auto-dismiss': false,
          ...(speed ? { speed } : {}),
        });
      } else {
        const ready = qmp.waitForEvent(
          'BLOCK_JOB_READY',
          (e) => (e.data as { device?: string } | undefined)?.device === job,
          { timeoutMs: JOB_TIMEOUT_MS },
        );
        void concluded.catch(() => undefined);
        await qmp.executeUntyped('block-commit', {
          'job-id': job,
          device: nodeName(0).format,
          'base-node': nodeName(1).format,
          'auto-dismiss': false,
          ...(speed ? { speed } : {}),
        });
        await Promise.race([ready, concluded]);
        await qmp.executeUntyped('job-complete', { id: job }).catch(() => undefined);
      }
      await concluded;
    } finally {
      clearInterval(timer);
    }
    const jobs = (await qmp.executeUntyped('query-jobs')) as Array<{ id: string; error?: string }>;
    const failed = jobs.find((j) => j.id === job)?.error;
    await qmp.executeUntyped('job-dismiss', { id: job });
    if (failed) throw new AgentError('merge_failed', `QEMU's commit failed: ${failed}`);
    // Closing the nodes flushes them; quit then ends QEMU cleanly.
    await qmp.executeUntyped('quit').catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  } finally {
    await qmp?.close().catch(() => undefined);
    if (qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGKILL');
      await exited;
    }
    await rm(sockDir, { recursive: true, force: true });
  }
}
