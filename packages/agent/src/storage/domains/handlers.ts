import type { MethodHandlers } from '../../rpc/handlers';
import type { StorageDomains } from './service';

/** The `storage.*` agent methods, bound to the host's active-domain list. */
export function storageDomainHandlers(domains: StorageDomains): MethodHandlers {
  return {
    'storage.activate': (p) => domains.activate(p),
    'storage.deactivate': (p) => domains.deactivate(p.id, p.release ?? false),
    'storage.capacity': (p) => domains.capacity(p.id),
    'storage.list_isos': async (p) => ({ files: await domains.listIsos(p.id) }),
    'storage.probe': async (p) => ({ domains: await domains.probe(p) }),
  };
}
