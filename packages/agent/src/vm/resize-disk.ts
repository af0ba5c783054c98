import type { VmResizeDiskParams, VmResizeDiskResult } from '@vireo/agent-protocol';
import { diskNodeNames } from '../qemu/argv';
import { AgentError } from '../util/errors';
import type { VmRuntime } from './runtime';

/** `query-named-block-nodes` entry (the parts used here). */
interface NamedNode {
  'node-name'?: string;
  image?: { 'virtual-size'?: number };
}

/**
 * Grows a running VM's disk: QMP `block_resize` on the disk's format node, so the guest sees the
 * new size at once (virtio-blk raises a config-change interrupt). Only growth: shrinking under a
 * running guest would cut off data it believes is there. A VM that is down is refused
 * (`invalid_vm_state`): the engine grows the volume offline with `volume.resize` instead.
 */
export function resizeDisk(rt: VmRuntime, p: VmResizeDiskParams): Promise<VmResizeDiskResult> {
  const vm = rt.get(p.vm_id);
  return rt.lock.run(vm.id, 'vm.resize_disk', async () => {
    const spec = vm.spec;
    if (!spec?.disks.some((d) => d.id === p.disk_id)) {
      throw new AgentError('device_not_found', `VM ${vm.id} has no disk ${p.disk_id}`, {
        details: { vm_id: vm.id, disk_id: p.disk_id },
      });
    }
    rt.requireState(vm, ['up', 'paused'], 'resize a disk of');
    const qmp = rt.requireQmp(vm);
    const node = diskNodeNames(p.disk_id).format;
    const current = await currentSize(
      await qmp.executeUntyped('query-named-block-nodes', { flat: true }),
      node,
    );
    if (current !== undefined && p.size_bytes < current) {
      throw new AgentError(
        'invalid_params',
        'disks only grow: the new size is smaller than the current one',
        {
          details: { size_bytes: p.size_bytes, virtual_size: current },
        },
      );
    }
    if (current !== p.size_bytes)
      await qmp.execute('block_resize', { 'node-name': node, size: p.size_bytes });
    const after = await currentSize(
      await qmp.executeUntyped('query-named-block-nodes', { flat: true }),
      node,
    );
    return { vm_id: vm.id, disk_id: p.disk_id, size_bytes: after ?? p.size_bytes };
  });
}

async function currentSize(nodes: unknown, node: string): Promise<number | undefined> {
  if (!Array.isArray(nodes)) return undefined;
  const found = (nodes as NamedNode[]).find((n) => n['node-name'] === node);
  return found?.image?.['virtual-size'];
}
