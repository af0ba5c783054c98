import { join } from 'node:path';
import type { ImageCreateParams, ImageInfo, ImageInfoParams } from '@vireo/agent-protocol';
import { createImage, createOverlay, imageInfo } from '../storage';
import { type StorageDomains, storageDomainHandlers } from '../storage/domains';
import { exportHandlers } from '../storage/export/handlers';
import { routeUserspaceNfsVolumes } from '../storage/nfs/handlers';
import { registrationHandlers } from '../storage/registration/handlers';
import { sealAvailability } from '../storage/seal/appliance';
import { sealHandlers } from '../storage/seal/handlers';
import { volumeHandlers } from '../storage/volumes/handlers';
import { AgentError } from '../util/errors';
import type { VmRuntime } from '../vm/runtime';
import { blockChains, mergeStatus, mergeVm, mergeVolume, snapshotVm } from '../vm/snapshots';
import type { MethodHandlers } from './handlers';

/** Host facts (capabilities, stats): provided by the host module when the agent runs for real. */
export interface HostService {
  capabilities(): Promise<unknown>;
  stats(): Promise<unknown>;
}

/**
 * Binds the protocol's methods to the VM runtime, the host module, the image tools and the host's
 * active storage domains (`storage.*`; volume calls resolve domain roots through `domains.rootOf`).
 */
export function createMethodHandlers(
  runtime: VmRuntime,
  host?: HostService,
  domains?: StorageDomains,
): MethodHandlers {
  const handlers: MethodHandlers = {
    'vm.list': async (p) => ({
      vms: runtime.list(),
      external: p.include_external === false ? [] : await runtime.listExternal(),
    }),
    'vm.get': (p) => {
      const vm = runtime.get(p.vm_id);
      return { vm: vm.info(), spec: vm.spec };
    },
    'vm.start': async (p) => ({
      vm: await runtime.start(p.spec, {
        ...(p.console ? { console: p.console } : {}),
        ...(p.paused ? { paused: true } : {}),
        ...(p.secrets ? { secrets: p.secrets } : {}),
        ...(p.restore_memory ? { restoreMemory: p.restore_memory.path } : {}),
      }),
    }),
    'vm.shutdown': (p) => runtime.shutdown(p.vm_id, p.timeout_s),
    'vm.stop': async (p) => ({ vm: await runtime.stop(p.vm_id) }),
    'vm.reboot': async (p) => ({ vm: await runtime.reboot(p.vm_id, p.timeout_s) }),
    'vm.reset': async (p) => ({ vm: await runtime.reset(p.vm_id) }),
    'vm.pause': async (p) => ({ vm: await runtime.pause(p.vm_id) }),
    'vm.resume': async (p) => ({ vm: await runtime.resume(p.vm_id) }),
    'vm.destroy': async (p) => {
      await runtime.destroy(p.vm_id);
      return { vm_id: p.vm_id.toLowerCase() };
    },
    'vm.console': (p) => runtime.console(p),
    'vm.change_cd': async (p) => ({ vm: await runtime.changeCd(p.vm_id, p.path) }),
    'vm.attach_disk': async (p) => ({ vm: await runtime.attachDisk(p.vm_id, p.disk, p.secrets) }),
    'vm.detach_disk': async (p) => ({ vm: await runtime.detachDisk(p.vm_id, p.disk_id) }),
    'vm.snapshot': (p) => snapshotVm(runtime, p),
    'vm.merge': (p) => mergeVm(runtime, p),
    'volume.merge': (p) => mergeVolume(runtime, p),
    'merge.status': (p) => mergeStatus(runtime, p),
    'vm.block_chains': (p) => blockChains(runtime, p),
    'image.create': (p) => createImageChecked(runtime, p),
    'image.info': (p) => imageInfoChecked(runtime, p),
  };
  if (domains) Object.assign(handlers, storageDomainHandlers(domains));
  if (domains) Object.assign(handlers, registrationHandlers(domains));
  if (domains)
    Object.assign(
      handlers,
      volumeHandlers(runtime, (id) => domains.rootOf(id)),
    );
  if (domains)
    Object.assign(
      handlers,
      sealHandlers(
        runtime,
        (id) => domains.rootOf(id),
        (id) => domains.userspaceDomain(id),
      ),
    );
  if (domains)
    Object.assign(
      handlers,
      exportHandlers(
        runtime,
        (id) => domains.rootOf(id),
        (id) => domains.userspaceDomain(id),
      ),
    );
  // nfs domains served without a kernel NFS client (ADR 027) have their own volume calls.
  if (domains) {
    const log = runtime.log.child({ module: 'agent:nfs' });
    routeUserspaceNfsVolumes(handlers, domains, log, join(runtime.cfg.stateDir, 'secrets'), runtime.emit);
  }
  if (host) {
    handlers['host.capabilities'] = async () =>
      ({
        ...((await host.capabilities()) as object),
        ...(domains
          ? { storage: { nfs: domains.nfsMode, seal: sealAvailability(runtime.cfg.sealDir) } }
          : {}),
      }) as never;
    handlers['host.stats'] = () => host.stats() as never;
  }
  return handlers;
}

async function describe(path: string, format: 'qcow2' | 'raw'): Promise<ImageInfo> {
  const info = await imageInfo(path, { format, forceShare: true });
  const backingName = info['full-backing-filename'] ?? info['backing-filename'];
  const backingFormat = info['backing-filename-format'];
  return {
    path,
    format,
    virtual_size: info['virtual-size'],
    actual_size: info['actual-size'] ?? 0,
    backing:
      backingName && (backingFormat === 'qcow2' || backingFormat === 'raw')
        ? { path: backingName, format: backingFormat }
        : null,
  };
}

/** `image.info`: the path passes the same policy as a VM's disks, then qemu-img reads it as `format`. */
async function imageInfoChecked(runtime: VmRuntime, p: ImageInfoParams): Promise<ImageInfo> {
  const real = await runtime.images.checkFile(p.path, '/path', true);
  await runtime.images.checkDisk(
    { id: 'image', path: real, format: p.format, interface: 'virtio', bootable: false, readonly: true },
    '/path',
  );
  return describe(real, p.format);
}

/** `image.create`: a new image (or a thin overlay, backing format explicit) inside the allowed directories. */
async function createImageChecked(runtime: VmRuntime, p: ImageCreateParams): Promise<ImageInfo> {
  const target = await runtime.images.checkNewFile(p.path, '/path');
  if (p.backing) {
    if (p.format !== 'qcow2')
      throw new AgentError('invalid_params', 'only qcow2 images can have a backing file');
    const backing = await runtime.images.checkFile(p.backing.path, '/backing/path');
    await runtime.images.checkDisk(
      {
        id: 'backing',
        path: backing,
        format: p.backing.format,
        interface: 'virtio',
        bootable: false,
        readonly: true,
      },
      '/backing/path',
    );
    await createOverlay({
      path: target,
      backingPath: backing,
      backingFormat: p.backing.format,
      ...(p.size_bytes ? { sizeBytes: p.size_bytes } : {}),
    });
  } else {
    if (!p.size_bytes)
      throw new AgentError('invalid_params', 'size_bytes is required without a backing image');
    await createImage({ path: target, format: p.format, sizeBytes: p.size_bytes });
  }
  return describe(target, p.format);
}
