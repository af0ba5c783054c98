import type { Logger } from 'pino';
import type { MethodHandlers } from '../../rpc/handlers';
import type { VmRuntime } from '../../vm/runtime';
import type { StorageDomains } from '../domains/service';
import { UserspaceCopies } from './copy';
import { UserspaceVolumes } from './volumes';

/**
 * Routes the `volume.*` calls that name a userspace-mode nfs domain (ADR 027) to
 * {@link UserspaceVolumes}; every other domain keeps the directory-based handlers. Operations this
 * mode cannot do answer `storage_feature_unavailable` naming the feature (other domain-root users
 * get the same code from `StorageDomains.rootOf`; uploads and downloads go through
 * `UserspaceNfsTransfers`).
 */
export function routeUserspaceNfsVolumes(
  handlers: MethodHandlers,
  domains: StorageDomains,
  log: Logger,
  /** Where disk keys are written for qemu-img (the directory volume calls use). */
  secretsDir: string,
  /** Where copy progress goes (`job.progress`); without it copies with an nfs side are refused. */
  emit?: VmRuntime['emit'],
): void {
  const volumes = new UserspaceVolumes({
    domain: (id) => domains.userspaceDomain(id),
    unavailable: (id, feature) => domains.featureUnavailable(id, feature),
    log,
    secretsDir,
  });
  const local = {
    create: handlers['volume.create'],
    info: handlers['volume.info'],
    delete: handlers['volume.delete'],
    resize: handlers['volume.resize'],
    copy: handlers['volume.copy'],
    cancel: handlers['volume.cancel'],
  };
  if (!local.create || !local.info || !local.delete || !local.resize || !local.copy || !local.cancel) return;
  const { create, info, delete: remove, resize, copy, cancel } = local;
  const copies = emit
    ? new UserspaceCopies({
        domain: (id) => domains.userspaceDomain(id),
        unavailable: (id, feature) => domains.featureUnavailable(id, feature),
        resolveRoot: (id) => domains.rootOf(id),
        emit,
        log,
        secretsDir,
      })
    : undefined;
  handlers['volume.create'] = (p, ctx) => {
    const d = domains.userspaceDomain(p.domain_id);
    return d ? volumes.create(d, p) : create(p, ctx);
  };
  handlers['volume.info'] = (p, ctx) => {
    const d = domains.userspaceDomain(p.domain_id);
    return d ? volumes.info(d, p) : info(p, ctx);
  };
  handlers['volume.delete'] = (p, ctx) => {
    const d = domains.userspaceDomain(p.domain_id);
    return d ? volumes.delete(d, p) : remove(p, ctx);
  };
  handlers['volume.resize'] = (p, ctx) => {
    const d = domains.userspaceDomain(p.domain_id);
    return d ? volumes.resize(d, p) : resize(p, ctx);
  };
  handlers['volume.copy'] = (p, ctx) => {
    if (copies?.handles(p)) return copies.copy(p);
    for (const id of [p.from.domain_id, p.to.domain_id]) {
      if (domains.userspaceDomain(id)) throw domains.featureUnavailable(id, 'copying or moving a volume');
    }
    return copy(p, ctx);
  };
  handlers['volume.cancel'] = (p, ctx) => {
    const mine = copies?.cancel(p.job_id);
    return mine?.cancelled ? mine : cancel(p, ctx);
  };
}
