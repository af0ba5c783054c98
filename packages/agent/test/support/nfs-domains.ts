import { randomUUID } from 'node:crypto';
import type { StorageDomainRef } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { TestNfsServer } from '../../../../test/support/nfs-server';
import { StorageDomains } from '../../src/storage/domains/service';
import { ImagePolicy } from '../../src/vm/images';

/** An nfs domain on the test server, with a fresh id and the agent's usual (never mounted) path. */
export function nfsDomainRef(
  server: TestNfsServer,
  kind: StorageDomainRef['kind'],
  over: Partial<StorageDomainRef> = {},
): StorageDomainRef {
  const id = over.id ?? randomUUID();
  return {
    id,
    name: `${kind}-${id.slice(0, 4)}`,
    kind,
    backend: 'nfs',
    path: `/run/vireo-agent/storage/${id}`,
    nfs_server: server.address,
    nfs_export: server.exportPath,
    ...over,
  };
}

/**
 * The agent's storage-domain service forced into userspace NFS mode (ADR 027), as on a host without
 * a kernel NFS client; a mount attempt fails the test, since this mode must never mount.
 */
export function userspaceNfsDomains(
  stateDir: string,
  log: Logger,
  policy: ImagePolicy = new ImagePolicy([]),
): StorageDomains {
  return new StorageDomains({
    stateDir,
    policy,
    log,
    nfsMode: { mode: 'userspace', reason: 'test' },
    hostName: 'host-under-test',
    mountTool: async () => {
      throw new Error('mount must not run in userspace mode');
    },
  });
}
