import { join } from 'node:path';
import type { MethodHandlers } from '../../rpc/handlers';
import type { VmRuntime } from '../../vm/runtime';
import type { UserspaceNfsDomain } from '../domains/service';
import type { DomainRootResolver } from '../volumes/layout';
import { findSealAppliance, sealAvailability } from './appliance';
import { sealVolume } from './service';

/**
 * `volume.seal`, with the runtime's QEMU binary and resolved accelerator. `userspaceDomain` names
 * the active userspace-mode nfs domains (ADR 027), whose volumes the appliance opens over NFS.
 */
export function sealHandlers(
  runtime: VmRuntime,
  resolveRoot: DomainRootResolver,
  userspaceDomain?: (id: string) => UserspaceNfsDomain | undefined,
): MethodHandlers {
  const opts = {
    qemuBinary: runtime.cfg.qemuBinary,
    accel: runtime.cfg.accel,
    secretsDir: join(runtime.cfg.stateDir, 'secrets'),
    log: runtime.log.child({ module: 'agent:seal' }),
    appliance: () => findSealAppliance(runtime.cfg.sealDir),
    unavailableReason: () => sealAvailability(runtime.cfg.sealDir).reason,
    ...(userspaceDomain ? { nfs: { domain: userspaceDomain, images: () => runtime.images.remote } } : {}),
  };
  return { 'volume.seal': (p) => sealVolume(resolveRoot, opts, p) };
}
