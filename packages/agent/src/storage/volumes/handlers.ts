import { join } from 'node:path';
import type { MethodHandlers } from '../../rpc/handlers';
import { resizeDisk } from '../../vm/resize-disk';
import type { VmRuntime } from '../../vm/runtime';
import type { DomainRootResolver } from './layout';
import { VolumeService } from './service';

/** The `volume.*` methods and `vm.resize_disk`, bound to the active domains and the VM runtime. */
export function volumeHandlers(runtime: VmRuntime, resolveRoot: DomainRootResolver): MethodHandlers {
  const volumes = new VolumeService(
    resolveRoot,
    runtime.emit,
    runtime.log.child({ module: 'agent:volumes' }),
    join(runtime.cfg.stateDir, 'secrets'),
  );
  return {
    'volume.create': (p) => volumes.create(p),
    'volume.delete': (p) => volumes.delete(p),
    'volume.info': (p) => volumes.info(p),
    'volume.resize': (p) => volumes.resize(p),
    'volume.copy': (p) => volumes.copy(p),
    'volume.cancel': (p) => volumes.cancel(p.job_id),
    'vm.resize_disk': (p) => resizeDisk(runtime, p),
  };
}
