import { stat } from 'node:fs/promises';
import type { VmBlockChainsParams, VmBlockChainsResult } from '@vireo/agent-protocol';
import { AgentError } from '../../util/errors';
import type { VmRuntime } from '../runtime';
import { liveDisk, remoteNamesOf } from './graph';

/**
 * `vm.block_chains`: the volumes each disk of the VM runs on. It queues behind whatever holds the
 * VM's lock (a snapshot, a merge): a crashed engine asks this to learn whether a snapshot it sent
 * switched the disks, and an answer taken mid-switch would make it drop an overlay QEMU is about
 * to use. Read-only.
 */
export function blockChains(rt: VmRuntime, p: VmBlockChainsParams): Promise<VmBlockChainsResult> {
  const vm = rt.get(p.vm_id);
  return rt.lock.run(
    vm.id,
    'vm.block_chains',
    async () => {
      const spec = vm.spec;
      if (!spec) {
        throw new AgentError('vm_damaged', `VM ${vm.id} has no readable spec`, { details: { vm_id: vm.id } });
      }
      // A running VM without QMP (reconnecting) throws: the stored spec alone could be stale.
      const running = vm.state === 'up' || vm.state === 'paused';
      const disks: VmBlockChainsResult['disks'] = [];
      for (const d of spec.disks) {
        if (running) {
          const live = await liveDisk(rt.requireQmp(vm), d.id, remoteNamesOf(rt));
          disks.push({
            disk_id: d.id,
            chain: live.chain.map((l) => ({ path: l.filename, format: l.format })),
          });
        } else {
          disks.push({ disk_id: d.id, chain: [{ path: d.path, format: d.format }] });
        }
      }
      return { vm_id: vm.id, running, disks, memory_bytes: await memorySize(rt, p.memory_path) };
    },
    { wait: true },
  );
}

async function memorySize(rt: VmRuntime, path: string | undefined): Promise<number | null> {
  if (!path) return null;
  // On a userspace-mode nfs domain the state is looked up over NFS (ADR 027 decision 15).
  if (rt.images.remote?.owns(path)) {
    return (await rt.images.remote.memoryState(path, '/memory_path').size()) ?? null;
  }
  try {
    return (await stat(await rt.images.checkFile(path, '/memory_path'))).size;
  } catch (err) {
    if (err instanceof AgentError && err.code === 'image_not_found') return null;
    throw err;
  }
}
