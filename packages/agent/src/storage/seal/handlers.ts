import { join } from 'node:path';
import type { MethodHandlers } from '../../rpc/handlers';
import type { VmRuntime } from '../../vm/runtime';
import type { DomainRootResolver } from '../volumes/layout';
import { findSealAppliance } from './appliance';
import { sealVolume } from './service';

/** `volume.seal`, with the runtime's QEMU binary and resolved accelerator. */
export function sealHandlers(runtime: VmRuntime, resolveRoot: DomainRootResolver): MethodHandlers {
  const opts = {
    qemuBinary: runtime.cfg.qemuBinary,
    accel: runtime.cfg.accel,
    secretsDir: join(runtime.cfg.stateDir, 'secrets'),
    log: runtime.log.child({ module: 'agent:seal' }),
    appliance: () => findSealAppliance(runtime.cfg.sealDir),
  };
  return { 'volume.seal': (p) => sealVolume(resolveRoot, opts, p) };
}
