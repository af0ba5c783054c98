import { rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { VmSnapshotParams, VmSnapshotResult, VmSpec } from '@vireo/agent-protocol';
import { validateVmSpec } from '../../qemu/argv';
import { AgentError, wrap } from '../../util/errors';
import { Reverter } from '../../util/reverter';
import type { VmRuntime } from '../runtime';
import { writeSpec } from '../store';
import type { ManagedVm } from '../vm';
import { canonical, liveDisk, volumeNodeNames } from './graph';
import { saveMemoryState } from './memory';
import { createOverlayUnsafe } from './volume-ops';

interface PlannedDisk {
  diskId: string;
  /** Node name of the current active layer. */
  activeNode: string;
  activePath: string;
  newPath: string;
  nodes: { format: string; file: string };
}

/**
 * `vm.snapshot`, with the VM's lock held: one qcow2 overlay per disk, created next to the disk's
 * active volume (backing file named relatively, format explicit, `-u` because QEMU holds the base
 * locked), then switched to in one QMP `transaction` of `blockdev-snapshot-sync` actions: QEMU drains all I/O once and swaps every disk at the same point, so
 * the snapshot is crash-consistent across disks. With `memory`, the vCPUs stop first, the disks
 * switch, the RAM and device state stream into the file, and the vCPUs resume.
 */
export async function snapshotLocked(
  rt: VmRuntime,
  vm: ManagedVm,
  p: VmSnapshotParams,
): Promise<VmSnapshotResult> {
  rt.requireState(vm, ['up', 'paused'], 'snapshot');
  const qmp = rt.requireQmp(vm);
  const spec = specOf(vm);
  const log = rt.log.child({ vm_id: vm.id, action: 'vm.snapshot' });
  const revert = new Reverter(log);
  try {
    const seen = new Set<string>();
    const planned: PlannedDisk[] = [];
    for (const [i, d] of p.disks.entries()) {
      if (seen.has(d.disk_id)) throw invalid(`/disks/${i}/disk_id`, `disk ${d.disk_id} listed twice`);
      seen.add(d.disk_id);
      const specDisk = spec.disks.find((x) => x.id === d.disk_id);
      if (!specDisk) throw invalid(`/disks/${i}/disk_id`, `VM has no disk ${d.disk_id}`);
      if (specDisk.readonly) throw invalid(`/disks/${i}/disk_id`, `disk ${d.disk_id} is read-only`);
      if (specDisk.encryption_secret_id) {
        throw new AgentError(
          'unsupported',
          `disk ${d.disk_id} is encrypted: snapshots of encrypted disks come later`,
        );
      }
      const live = await liveDisk(qmp, d.disk_id);
      const active = live.chain[0];
      if (!active) throw invalid(`/disks/${i}/disk_id`, `disk ${d.disk_id} has no medium`);
      const newPath = await rt.images.checkNewFile(d.new_volume_path, `/disks/${i}/new_volume_path`);
      const activeReal = await canonical(active.filename);
      if (dirname(newPath) !== dirname(activeReal)) {
        throw invalid(
          `/disks/${i}/new_volume_path`,
          `the new volume must be in the directory of the disk's active volume (${dirname(activeReal)})`,
        );
      }
      planned.push({
        diskId: d.disk_id,
        activeNode: live.node,
        activePath: activeReal,
        newPath,
        nodes: volumeNodeNames(newPath),
      });
    }

    // Overlays first (files only, the guest is not affected yet).
    for (const d of planned) {
      const info = await liveDisk(qmp, d.diskId);
      const format = info.chain[0]?.format === 'raw' ? 'raw' : 'qcow2';
      await createOverlayUnsafe({
        path: d.newPath,
        backingName: basename(d.activePath),
        backingFormat: format,
        sizeBytes: await virtualSize(qmp, d.diskId),
      });
      revert.add(() => rm(d.newPath, { force: true }), `remove ${d.newPath}`);
    }

    // `mode: existing` opens the overlay made above, keeping its relative backing file name;
    // QEMU links it to the node already open instead of opening the backing file a second time.
    const actions = planned.map((d) => ({
      type: 'blockdev-snapshot-sync',
      data: {
        'node-name': d.activeNode,
        'snapshot-file': d.newPath,
        'snapshot-node-name': d.nodes.format,
        format: 'qcow2',
        mode: 'existing',
      },
    }));
    let pausedMs: number;
    let memoryBytes: number | undefined;
    let memoryError: unknown;
    if (p.memory) {
      const memoryPath = await rt.images.checkNewFile(p.memory.path, '/memory/path');
      const wasRunning = vm.state === 'up';
      const t0 = performance.now();
      if (wasRunning) await qmp.execute('stop');
      try {
        await qmp.executeUntyped('transaction', { actions });
        // Switched: QEMU writes to the overlays from here, so a failed RAM save must not remove
        // them (the engine's snapshot reconciler keeps the snapshot as disk-only).
        revert.success();
        try {
          memoryBytes = await saveMemoryState(qmp, vm.paths.dir, memoryPath);
        } catch (err) {
          memoryError = err;
        }
      } finally {
        if (wasRunning) await qmp.execute('cont');
      }
      pausedMs = wasRunning ? performance.now() - t0 : 0;
    } else {
      const t0 = performance.now();
      await qmp.executeUntyped('transaction', { actions });
      pausedMs = performance.now() - t0;
    }
    // From here the VM writes to the overlays: nothing may be undone any more.
    revert.success();

    const next: VmSpec = {
      ...spec,
      disks: spec.disks.map((disk) => {
        const d = planned.find((x) => x.diskId === disk.id);
        return d ? { ...disk, path: d.newPath, format: 'qcow2' as const } : disk;
      }),
    };
    await saveSpec(vm, next).catch((err) => log.error({ err }, 'recording the new active volumes failed'));
    if (memoryError) {
      throw new AgentError(
        'qemu_failed',
        'the disks switched to their overlays, but saving the memory failed',
        {
          cause: memoryError,
          details: { disks_switched: true },
        },
      );
    }
    log.info({ disks: planned.length, paused_ms: pausedMs, memory_bytes: memoryBytes }, 'snapshot taken');
    return {
      vm_id: vm.id,
      disks: planned.map((d) => ({ disk_id: d.diskId, path: d.newPath })),
      paused_ms: Math.round(pausedMs * 1000) / 1000,
      ...(memoryBytes !== undefined ? { memory_bytes: memoryBytes } : {}),
    };
  } catch (err) {
    await revert.revert();
    throw wrap(err, `snapshot of VM ${vm.name ?? vm.id}`);
  }
}

async function virtualSize(qmp: ReturnType<VmRuntime['requireQmp']>, diskId: string): Promise<number> {
  const blocks = await qmp.execute('query-block');
  for (const b of blocks) {
    const id = /^\/machine\/peripheral\/([^/]+)/.exec(b.qdev ?? '')?.[1] ?? b.qdev;
    if (id === `disk-${diskId}` && b.inserted) return b.inserted.image['virtual-size'];
  }
  throw new AgentError('device_not_found', `disk ${diskId} is not attached`, {
    details: { disk_id: diskId },
  });
}

export function specOf(vm: ManagedVm): VmSpec {
  if (!vm.spec)
    throw new AgentError('vm_damaged', `VM ${vm.id} has no readable spec`, { details: { vm_id: vm.id } });
  return vm.spec;
}

/** Validates and stores the spec with its disks' new active volumes (for the next start). */
export async function saveSpec(vm: ManagedVm, next: VmSpec): Promise<void> {
  const spec = validateVmSpec(next);
  await writeSpec(vm.paths, spec);
  vm.spec = spec;
}

function invalid(where: string, message: string): AgentError {
  return new AgentError('invalid_params', message, { details: { where } });
}
