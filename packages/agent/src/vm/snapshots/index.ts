import type {
  MergeResult,
  MergeStatusParams,
  MergeStatusResult,
  VmMergeParams,
  VmSnapshotParams,
  VmSnapshotResult,
  VolumeMergeParams,
} from '@vireo/agent-protocol';
import { dirname, join } from 'node:path';
import type { VmRuntime } from '../runtime';
import { coldMerge } from './cold-merge';
import { mergeLocked, resumeLiveMergeLocked } from './live-merge';
import type { DiskDirFiles } from '../../storage/nfs/images';
import { readMarker } from './marker';
import { snapshotLocked } from './live-snapshot';

export { blockChains } from './chains';
export { refusePendingMerges } from './marker';

/** `vm.snapshot` under the VM's lock. */
export function snapshotVm(rt: VmRuntime, p: VmSnapshotParams): Promise<VmSnapshotResult> {
  const vm = rt.get(p.vm_id);
  return rt.lock.run(vm.id, 'vm.snapshot', () => snapshotLocked(rt, vm, p));
}

/** `vm.merge` under the VM's lock. */
export function mergeVm(rt: VmRuntime, p: VmMergeParams): Promise<MergeResult> {
  const vm = rt.get(p.vm_id);
  return rt.lock.run(vm.id, 'vm.merge', () => mergeLocked(rt, vm, p));
}

/** `volume.merge` (no VM running on the disk). */
export function mergeVolume(rt: VmRuntime, p: VolumeMergeParams): Promise<MergeResult> {
  return coldMerge(rt, p);
}

/** `merge.status`: the unfinished merge recorded in a volume's directory, if any. */
export async function mergeStatus(rt: VmRuntime, p: MergeStatusParams): Promise<MergeStatusResult> {
  // A volume on a userspace-mode nfs domain: checked, and its marker read, over NFS (ADR 027).
  const remote = rt.images.remote?.owns(p.volume_path) ? rt.images.remote : undefined;
  const real = remote
    ? await remote.checkVolume(p.volume_path, '/volume_path')
    : await rt.images.checkFile(p.volume_path, '/volume_path');
  const dir = dirname(real);
  const marker = await readMarker(dir, remote?.diskFiles(dir));
  return {
    pending: marker
      ? {
          top_path: join(dir, marker.top),
          base_path: join(dir, marker.base),
          phase: marker.phase,
          vm_id: marker.vm_id,
        }
      : null,
  };
}

/**
 * After recovery: every running VM whose disk directory holds a live-merge marker gets its merge
 * finished in the background (under the VM's lock, so nothing else touches the VM meanwhile).
 * Resolves with the merges it started, for callers that want to wait.
 */
export async function resumeInterruptedMerges(rt: VmRuntime): Promise<Promise<unknown>[]> {
  const started: Promise<unknown>[] = [];
  for (const vm of rt.vms.values()) {
    if ((vm.state !== 'up' && vm.state !== 'paused') || !vm.spec) continue;
    const dirs = new Map<string, DiskDirFiles | undefined>();
    for (const d of vm.spec.disks) {
      if (d.readonly) continue;
      const remote = rt.images.remote?.owns(d.path) ? rt.images.remote : undefined;
      dirs.set(dirname(d.path), remote?.diskFiles(dirname(d.path)));
    }
    for (const [dir, files] of dirs) {
      const marker = await readMarker(dir, files).catch(() => undefined);
      if (marker?.kind !== 'live' || marker.vm_id !== vm.id) continue;
      const log = rt.log.child({ vm_id: vm.id, dir });
      log.warn({ top: marker.top, base: marker.base, phase: marker.phase }, 'finishing an interrupted merge');
      const run = rt.lock
        .run(vm.id, 'vm.merge', () => resumeLiveMergeLocked(rt, vm, dir, marker, files))
        .catch((err) => log.error({ err }, 'finishing the interrupted merge failed; the marker stays'));
      started.push(run);
    }
  }
  return started;
}
