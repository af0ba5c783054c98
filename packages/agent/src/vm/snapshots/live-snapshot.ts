import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { VmDisk, VmSnapshotParams, VmSnapshotResult, VmSpec } from '@vireo/agent-protocol';
import { type LaunchPlan, layerNodes, validateVmSpec } from '../../qemu/argv';
import { nfsFileNode } from '../../qemu/argv/nfs';
import type { NfsImage } from '../../qemu/argv/types';
import type { RemoteImages } from '../../storage/nfs/images';
import type { QmpClient } from '../../qemu/qmp';
import { withSecretFile } from '../../storage/volumes/encryption';
import { AgentError, wrap } from '../../util/errors';
import { Reverter } from '../../util/reverter';
import type { VmRuntime } from '../runtime';
import { writeSpec } from '../store';
import type { ManagedVm } from '../vm';
import { canonical, liveDisk, remoteNamesOf, volumeNodeNames } from './graph';
import { saveMemoryState } from './memory';
import { ensureStagingRoom, stagingPathOf } from '../../storage/nfs/memory-state';
import { createOverlayUnsafe } from './volume-ops';

interface PlannedDisk {
  diskId: string;
  /** Node name of the current active layer. */
  activeNode: string;
  activePath: string;
  newPath: string;
  nodes: { format: string; file: string };
  /** Encrypted disk: the secret QEMU already holds for it, and the key for qemu-img. */
  encryption?: { secretId: string; key: string };
  disk: VmDisk;
  /** On a userspace-mode nfs domain (ADR 027): the overlay's `nfs://` URL and its protocol node. */
  nfs?: { url: string; image: NfsImage };
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
  const remote = rt.images.remote;
  const names = remoteNamesOf(rt);
  try {
    // The state file goes onto a userspace-mode nfs domain (ADR 027 decision 15): QEMU saves it to a
    // local staging file, streamed over NFS afterwards. Checked before anything is made.
    const nfsMemory =
      p.memory && remote?.owns(p.memory.path) ? remote.memoryState(p.memory.path, '/memory/path') : undefined;
    if (nfsMemory) {
      await nfsMemory.checkNew('/memory/path');
      await ensureStagingRoom(vm.paths.dir, spec.memory_mib * 1024 * 1024);
    }
    const seen = new Set<string>();
    const planned: PlannedDisk[] = [];
    for (const [i, d] of p.disks.entries()) {
      if (seen.has(d.disk_id)) throw invalid(`/disks/${i}/disk_id`, `disk ${d.disk_id} listed twice`);
      seen.add(d.disk_id);
      const specDisk = spec.disks.find((x) => x.id === d.disk_id);
      if (!specDisk) throw invalid(`/disks/${i}/disk_id`, `VM has no disk ${d.disk_id}`);
      if (specDisk.readonly) throw invalid(`/disks/${i}/disk_id`, `disk ${d.disk_id} is read-only`);
      const secretId = specDisk.encryption_secret_id;
      if (secretId && !d.encryption) {
        throw invalid(`/disks/${i}/encryption`, `disk ${d.disk_id} is encrypted: its key is needed`);
      }
      if (!secretId && d.encryption) {
        throw invalid(`/disks/${i}/encryption`, `disk ${d.disk_id} is not encrypted`);
      }
      const live = await liveDisk(qmp, d.disk_id, names);
      const active = live.chain[0];
      if (!active) throw invalid(`/disks/${i}/disk_id`, `disk ${d.disk_id} has no medium`);
      const where = `/disks/${i}/new_volume_path`;
      const onNfs = remote?.owns(active.filename) === true;
      const newPath = onNfs
        ? await (remote as RemoteImages).checkNewVolume(d.new_volume_path, where)
        : await rt.images.checkNewFile(d.new_volume_path, where);
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
        ...(secretId && d.encryption ? { encryption: { secretId, key: d.encryption.secret } } : {}),
        disk: specDisk,
        ...(onNfs ? { nfs: nfsOverlay(remote as RemoteImages, spec, newPath) } : {}),
      });
    }

    // Overlays first (files only, the guest is not affected yet). A LUKS overlay costs seconds of
    // CPU (QEMU's PBKDF benchmark): it is made here by qemu-img, never while the guest is paused.
    for (const d of planned) {
      const info = await liveDisk(qmp, d.diskId, names);
      const format = info.chain[0]?.format === 'raw' ? 'raw' : 'qcow2';
      const create = (secretFile?: string) =>
        createOverlayUnsafe({
          // On nfs qemu-img writes through its nfs driver; the backing name is the same sibling name.
          path: d.nfs ? d.nfs.url : d.newPath,
          backingName: basename(d.activePath),
          backingFormat: format,
          sizeBytes: info.virtualSize,
          ...(secretFile ? { secretFile } : {}),
        });
      revert.add(
        () => (d.nfs && remote ? remote.removeVolume(d.newPath) : rm(d.newPath, { force: true })),
        `remove ${d.newPath}`,
      );
      if (d.encryption) {
        await withSecretFile(join(vm.paths.dir, 'secrets'), d.encryption.key, create);
      } else {
        await create();
      }
      if (d.encryption || d.nfs) await addOverlayNodes(qmp, d, revert);
    }

    // Plain disks: `mode: existing` opens the overlay made above, keeping its relative backing file
    // name; QEMU links it to the node already open instead of opening the backing file a second
    // time. Encrypted disks and disks on nfs: the overlay is open already (with its key, or with
    // the nfs driver, which cannot open a backing file by name), `blockdev-snapshot` links it.
    const actions = planned.map((d) =>
      d.encryption || d.nfs
        ? { type: 'blockdev-snapshot', data: { node: d.activeNode, overlay: d.nodes.format } }
        : {
            type: 'blockdev-snapshot-sync',
            data: {
              'node-name': d.activeNode,
              'snapshot-file': d.newPath,
              'snapshot-node-name': d.nodes.format,
              format: 'qcow2',
              mode: 'existing',
            },
          },
    );
    let pausedMs: number;
    let memoryBytes: number | undefined;
    let memoryError: unknown;
    if (p.memory) {
      const memoryPath = nfsMemory
        ? stagingPathOf(vm.paths.dir, nfsMemory)
        : await rt.images.checkNewFile(p.memory.path, '/memory/path');
      if (nfsMemory) await rm(memoryPath, { force: true });
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
      // The guest runs again while the staged state streams onto the domain.
      if (nfsMemory && memoryBytes !== undefined) {
        try {
          await nfsMemory.upload(memoryPath);
        } catch (err) {
          memoryError = err;
          memoryBytes = undefined;
        } finally {
          await rm(memoryPath, { force: true });
        }
      }
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

/**
 * Opens an overlay (file + qcow2 node, no backing yet: `blockdev-snapshot` links it to the active
 * layer) before the guest pauses: an encrypted one with the secret object QEMU already holds for
 * the disk (opening a LUKS header derives its key: tens of ms), one on nfs with the nfs driver.
 * Undone by `blockdev-del` if the switch fails.
 */
async function addOverlayNodes(qmp: QmpClient, d: PlannedDisk, revert: Reverter): Promise<void> {
  const layer = {
    path: d.newPath,
    format: 'qcow2' as const,
    ...(d.encryption ? { secretId: d.encryption.secretId } : {}),
    writable: true,
  };
  const nodes = layerNodes(d.disk, layer, d.nodes, null);
  const file = d.nfs
    ? nfsFileNode(
        { nfsImages: { [d.newPath]: d.nfs.image } } as unknown as LaunchPlan,
        d.newPath,
        '/nfs',
        nodes.file,
      )
    : nodes.file;
  await qmp.executeUntyped('blockdev-add', file);
  revert.add(() => qmp.execute('blockdev-del', { 'node-name': d.nodes.file }), 'release overlay file node');
  await qmp.executeUntyped('blockdev-add', nodes.format);
  revert.add(() => qmp.execute('blockdev-del', { 'node-name': d.nodes.format }), 'release overlay node');
}

/** The overlay's URL for qemu-img and its protocol node for QEMU (userspace-mode nfs, ADR 027). */
function nfsOverlay(remote: RemoteImages, spec: VmSpec, path: string): { url: string; image: NfsImage } {
  const image = remote.nfsImagesOf({ ...spec, disks: [{ ...(spec.disks[0] as VmDisk), path }] })[path];
  if (!image) throw new AgentError('internal_error', `no nfs mapping for ${path}`);
  return { url: remote.urlOf(path), image };
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
