import { join } from 'node:path';
import type { MethodHandlers } from '../../rpc/handlers';
import type { VmRuntime } from '../../vm/runtime';
import type { UserspaceNfsDomain } from '../domains/service';
import type { DomainRootResolver } from '../volumes/layout';
import { DomainFiles } from './files';
import { OvaService } from './ova';

/**
 * `storage.file_*` and `export.*`, bound to the host's active storage domains: directory domains
 * through `resolveRoot`, userspace-mode nfs domains (ADR 027) through the agent's NFS client.
 */
export function exportHandlers(
  runtime: VmRuntime,
  resolveRoot: DomainRootResolver,
  nfsDomain?: (id: string) => UserspaceNfsDomain | undefined,
): MethodHandlers {
  const files = new DomainFiles(resolveRoot, nfsDomain);
  const ova = new OvaService(
    resolveRoot,
    runtime.emit,
    runtime.log.child({ module: 'agent:export' }),
    // Keys of encrypted disks being packed: 0600 files on the host, never on the export domain.
    join(runtime.cfg.stateDir, 'secrets'),
    {
      ...(nfsDomain ? { nfsDomain } : {}),
      // Images on their way to or from an nfs domain are flattened and checked here.
      stagingDir: join(runtime.cfg.stateDir, 'staging'),
    },
  );
  const started = new Date();
  ova
    .cleanStaging(started)
    .catch((err: unknown) => runtime.log.warn({ err }, 'could not clean the export staging directory'));
  return {
    'storage.file_write': (p) => files.write(p),
    'storage.file_read': (p) => files.read(p),
    'storage.file_list': (p) => files.list(p),
    'storage.file_delete': (p) => files.delete(p),
    'export.ova_pack': (p) => ova.pack(p),
    'export.ova_list': (p) => ova.list(p.domain_id),
    'export.ova_read': (p) => ova.read(p),
    'export.ova_extract': (p) => ova.extract(p),
    'export.check_volume': (p) => ova.checkVolume(p),
  };
}
