import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { MergeResult, VmMergeParams } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { QmpClient, QmpEvent } from '../../qemu/qmp';
import { AgentError } from '../../util/errors';
import type { VmRuntime } from '../runtime';
import type { ManagedVm } from '../vm';
import type { DiskDirFiles } from '../../storage/nfs/images';
import { canonical, findFormatNode, findJob, liveDisk, nodeExists, remoteNamesOf } from './graph';
import { type MergeMarker, mergeError, readMarker, removeMarker, syncDir, writeMarker } from './marker';
import { saveSpec, specOf } from './live-snapshot';

const PROGRESS_INTERVAL_MS = 500;
/** A merge copies whole volumes: hours are possible on slow storage. */
const JOB_TIMEOUT_MS = 24 * 3600_000;

/**
 * `vm.merge`, with the VM's lock held: `block-commit` of `top` into `base` in the running QEMU.
 * The active layer goes `BLOCK_JOB_READY` → `job-complete` (QEMU then writes to `base`); an inner
 * layer completes on its own and QEMU rewrites the child's backing file name. Before the job starts
 * a marker (`merge.json`, fsync'ed) records top, base and phase, so an interrupted merge is finished
 * by recovery (`resumeLiveMerge`) or by a cold `volume.merge`, and never silently forgotten.
 */
export async function mergeLocked(rt: VmRuntime, vm: ManagedVm, p: VmMergeParams): Promise<MergeResult> {
  rt.requireState(vm, ['up', 'paused'], 'merge');
  const qmp = rt.requireQmp(vm);
  const spec = specOf(vm);
  if (!spec.disks.some((d) => d.id === p.disk_id)) {
    throw new AgentError('invalid_params', `VM has no disk ${p.disk_id}`, { details: { where: '/disk_id' } });
  }
  // Volumes on a userspace-mode nfs domain (ADR 027) are checked, and their marker kept, over NFS.
  const remote = rt.images.remote?.owns(p.top_path) ? rt.images.remote : undefined;
  const top = remote
    ? await remote.checkVolume(p.top_path, '/top_path')
    : await rt.images.checkFile(p.top_path, '/top_path');
  const base = remote
    ? await remote.checkVolume(p.base_path, '/base_path')
    : await rt.images.checkFile(p.base_path, '/base_path');
  const dir = dirname(top);
  if (dirname(base) !== dir) {
    throw new AgentError('invalid_params', 'top and base must be volumes of the same disk directory');
  }
  const log = rt.log.child({ vm_id: vm.id, disk_id: p.disk_id, action: 'vm.merge' });
  const files = remote?.diskFiles(dir);
  const existing = await readMarker(dir, files);
  if (existing && (existing.top !== basename(top) || existing.base !== basename(base))) {
    throw new AgentError(
      'merge_pending',
      `another merge (${existing.top} into ${existing.base}) is unfinished`,
      {
        details: { top: existing.top, base: existing.base, phase: existing.phase },
      },
    );
  }
  if (existing) {
    if (existing.kind !== 'live' || existing.disk_id !== p.disk_id) {
      throw new AgentError(
        'merge_pending',
        'this merge was started with the VM down: finish it with volume.merge',
        {
          details: { top: existing.top, base: existing.base, phase: existing.phase },
        },
      );
    }
    return resumeLiveMergeLocked(rt, vm, dir, existing, files);
  }
  try {
    const live = await liveDisk(qmp, p.disk_id, remoteNamesOf(rt));
    const names = await Promise.all(live.chain.map((l) => canonical(l.filename)));
    const i = names.indexOf(top);
    if (i < 0 || names[i + 1] !== base) {
      throw new AgentError(
        'invalid_params',
        `${basename(base)} is not the backing volume of ${basename(top)} in the running chain`,
        {
          details: { chain: names.map((n) => basename(n)) },
        },
      );
    }
    const marker: MergeMarker = {
      version: 1,
      kind: 'live',
      vm_id: vm.id,
      disk_id: p.disk_id,
      top: basename(top),
      base: basename(base),
      child: i > 0 ? basename(names[i - 1] as string) : null,
      phase: 'started',
      job_id: p.job_id ?? `merge-${randomUUID().slice(0, 8)}`,
      started_at: new Date().toISOString(),
    };
    await writeMarker(dir, marker, files);
    await runCommitJob(rt, qmp, dir, marker, live.node, p.speed_bytes_per_s ?? 0, log, files);
    return await finishLiveMerge(rt, vm, qmp, dir, marker, false, log, files);
  } catch (err) {
    throw mergeError(err, `merging ${basename(top)} into ${basename(base)}`);
  }
}

/** Starts `block-commit` and follows it to completion (pivoting when the top is the active layer). */
async function runCommitJob(
  rt: VmRuntime,
  qmp: QmpClient,
  dir: string,
  marker: MergeMarker,
  activeNode: string,
  speed: number,
  log: Logger,
  files?: DiskDirFiles,
): Promise<void> {
  const top = join(dir, marker.top);
  const base = join(dir, marker.base);
  const active = marker.child === null;
  const names = remoteNamesOf(rt);
  const [topNode, baseNode] = await Promise.all([
    findFormatNode(qmp, top, names),
    findFormatNode(qmp, base, names),
  ]);
  if (!topNode || !baseNode) {
    throw new AgentError('merge_failed', 'the volumes to merge are not open in QEMU', {
      details: { top_node: topNode ?? null, base_node: baseNode ?? null },
    });
  }
  const jobId = marker.job_id;
  const waiters = jobWaiters(qmp, jobId);
  await qmp.executeUntyped(
    'block-commit',
    {
      'job-id': jobId,
      device: activeNode,
      'base-node': baseNode,
      ...(active ? {} : { 'top-node': topNode, 'backing-file': marker.base }),
      ...(speed > 0 ? { speed } : {}),
    },
    { timeoutMs: 30_000 },
  );
  log.info({ job_id: jobId, active }, 'block-commit started');
  await followJob(rt, qmp, dir, marker, waiters, log, files);
}

interface JobWaiters {
  ready: Promise<QmpEvent>;
  done: Promise<QmpEvent>;
}

/** Registered before the command that starts (or completes) the job: fast jobs end before the reply. */
function jobWaiters(qmp: QmpClient, jobId: string): JobWaiters {
  const mine = (e: QmpEvent) => e.data?.device === jobId;
  const done = Promise.race([
    qmp.waitForEvent('BLOCK_JOB_COMPLETED', mine, { timeoutMs: JOB_TIMEOUT_MS }),
    qmp.waitForEvent('BLOCK_JOB_CANCELLED', mine, { timeoutMs: JOB_TIMEOUT_MS }),
  ]);
  done.catch(() => undefined);
  return { ready: qmp.waitForEvent('BLOCK_JOB_READY', mine, { timeoutMs: JOB_TIMEOUT_MS }), done };
}

/** Waits for the job, reporting progress; pivots an active-layer commit once it is ready. */
async function followJob(
  rt: VmRuntime,
  qmp: QmpClient,
  dir: string,
  marker: MergeMarker,
  waiters: JobWaiters,
  log: Logger,
  files?: DiskDirFiles,
): Promise<void> {
  const jobId = marker.job_id;
  const progress = (state: 'running' | 'succeeded' | 'failed', value: number, error?: string) =>
    rt.emit('job.progress', {
      job_id: jobId,
      kind: 'merge',
      state,
      progress: Math.min(1, Math.max(0, value)),
      ...(error ? { error: { code: 'merge_failed', message: error } } : {}),
    });
  const timer = setInterval(() => {
    void findJob(qmp, jobId)
      .then((job) => {
        if (job && job.len > 0) progress('running', job.offset / job.len);
      })
      .catch(() => undefined);
  }, PROGRESS_INTERVAL_MS);
  try {
    if (marker.child === null) {
      const first = await Promise.race([waiters.ready, waiters.done]);
      if (first.event === 'BLOCK_JOB_READY') {
        // From job-complete on, QEMU may write to the base alone: record that before asking.
        marker.phase = 'completing';
        await writeMarker(dir, marker, files);
        await qmp.executeUntyped('job-complete', { id: jobId });
      }
    }
    const end = await waiters.done;
    const error = end.data?.error;
    if (end.event === 'BLOCK_JOB_CANCELLED' || typeof error === 'string') {
      const why = typeof error === 'string' ? error : 'cancelled';
      progress('failed', 0, why);
      throw new AgentError('merge_failed', `block-commit ${jobId} failed: ${why}`, {
        details: { job_id: jobId },
      });
    }
    marker.phase = 'committed';
    await writeMarker(dir, marker, files);
    progress('succeeded', 1);
    log.info({ job_id: jobId }, 'block-commit completed');
  } finally {
    clearInterval(timer);
  }
}

/**
 * After the job: the spec names the disk's new active volume, the top's node (ours, from a
 * snapshot's `blockdev-add`) is released, the top file deleted, the marker removed.
 */
async function finishLiveMerge(
  rt: VmRuntime,
  vm: ManagedVm,
  qmp: QmpClient,
  dir: string,
  marker: MergeMarker,
  alreadyDone: boolean,
  log: Logger,
  files?: DiskDirFiles,
): Promise<MergeResult> {
  const names = remoteNamesOf(rt);
  const top = join(dir, marker.top);
  const base = join(dir, marker.base);
  const diskId = marker.disk_id;
  if (diskId) {
    const live = await liveDisk(qmp, diskId, names);
    const activePath = live.chain[0]?.filename;
    const spec = specOf(vm);
    if (activePath) {
      const activeReal = await canonical(activePath);
      const next = {
        ...spec,
        disks: spec.disks.map((d) =>
          d.id === diskId
            ? {
                ...d,
                path: activeReal,
                format: (live.chain[0]?.format === 'raw' ? 'raw' : 'qcow2') as 'raw' | 'qcow2',
              }
            : d,
        ),
      };
      await saveSpec(vm, next).catch((err) => log.error({ err }, 'recording the active volume failed'));
    }
  }
  const topNode = await findFormatNode(qmp, top, names);
  if (topNode && !topNode.startsWith('#')) {
    await qmp.execute('blockdev-del', { 'node-name': topNode }).catch((err) => {
      log.warn({ err, node: topNode }, 'releasing the merged volume node failed');
    });
    // Layers opened as explicit node pairs (encrypted chains) have a named file node of their own.
    const fileNode = `${topNode}-file`;
    if (await nodeExists(qmp, fileNode)) {
      await qmp.execute('blockdev-del', { 'node-name': fileNode }).catch((err) => {
        log.warn({ err, node: fileNode }, 'releasing the merged volume file node failed');
      });
    }
  }
  if (files && rt.images.remote) {
    await rt.images.remote.removeVolume(top);
  } else {
    await rm(top, { force: true });
    await syncDir(dir);
  }
  await removeMarker(dir, files);
  log.info({ top: marker.top, base: marker.base, already_done: alreadyDone }, 'merge finished');
  return {
    base_path: base,
    removed_path: top,
    rebased_path: marker.child ? join(dir, marker.child) : null,
    already_done: alreadyDone,
  };
}

/**
 * Finishes a live merge an agent restart interrupted (VM lock held, QEMU re-adopted): a job still in
 * QEMU is followed (and pivoted when ready); a job that is gone either finished (the top left the
 * chain: only the clean-up is left) or failed (the top is still there: the commit runs again, which
 * rewrites the same data).
 */
export async function resumeLiveMergeLocked(
  rt: VmRuntime,
  vm: ManagedVm,
  dir: string,
  marker: MergeMarker,
  files?: DiskDirFiles,
): Promise<MergeResult> {
  const qmp = rt.requireQmp(vm);
  const log = rt.log.child({ vm_id: vm.id, disk_id: marker.disk_id, action: 'merge.resume' });
  if (!marker.disk_id) throw new AgentError('merge_failed', 'live merge marker without a disk id');
  const waiters = jobWaiters(qmp, marker.job_id);
  const job = await findJob(qmp, marker.job_id);
  if (job) {
    log.info({ job_id: marker.job_id, ready: job.ready }, 'resuming a merge job QEMU still runs');
    if (marker.child === null && job.ready) {
      marker.phase = 'completing';
      await writeMarker(dir, marker, files);
      await qmp.executeUntyped('job-complete', { id: marker.job_id });
    }
    await followJob(rt, qmp, dir, marker, waiters, log, files);
    return finishLiveMerge(rt, vm, qmp, dir, marker, false, log, files);
  }
  const live = await liveDisk(qmp, marker.disk_id, remoteNamesOf(rt));
  const names = await Promise.all(live.chain.map((l) => canonical(l.filename)));
  const top = await canonical(join(dir, marker.top));
  if (!names.includes(top)) {
    log.info({ job_id: marker.job_id }, 'merge had finished while the agent was away');
    return finishLiveMerge(rt, vm, qmp, dir, marker, true, log, files);
  }
  log.info({ job_id: marker.job_id }, 'merge job is gone unfinished: running it again');
  marker.phase = 'started';
  await writeMarker(dir, marker, files);
  await runCommitJob(rt, qmp, dir, marker, live.node, 0, log, files);
  return finishLiveMerge(rt, vm, qmp, dir, marker, false, log, files);
}
