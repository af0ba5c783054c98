import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import { type AuthService, type AuthSettings, createAuthService } from './auth';
import { type ClusterService, createClusterService } from './clusters';
import { createDatacenterService, type DatacenterService } from './datacenters';
import type { MasterKey } from '../secrets/master-key';
import { createDiskService, type DiskService } from './disks';
import { createHostService, type HostRuntime, type HostService } from './hosts';
import { createSnapshotService, type SnapshotService } from './snapshots';
import type { AuditRecorder, OperationCreator } from './ports';
import { createStorageDomainService, type StorageDomainService } from './storage-domains';
import { createVmService, type VmService } from './vms';

export type { Actor } from './actor';
export { SYSTEM_ACTOR } from './actor';
export type { AuthService, AuthSettings } from './auth';
export { DEFAULT_AUTH_SETTINGS } from './auth';
export type { ClusterService } from './clusters';
export type { DatacenterService } from './datacenters';
export type { AttachmentView, DiskService } from './disks';
export type { HostRuntime, HostService } from './hosts';
export type { AuditEntry, AuditRecorder, OperationCreator } from './ports';
export type { SnapshotService } from './snapshots';
export type { StorageDomainService } from './storage-domains';
export type { ExpectedVersion } from './versioning';
export type { VmService, VmWithDisks } from './vms';

export interface ServiceDeps<
  A extends AuditRecorder = AuditRecorder,
  O extends OperationCreator = OperationCreator,
> {
  db: Db;
  log: Logger;
  /** engine-ops' audit log (src/events/audit.ts). */
  audit: A;
  /** engine-ops' operation registry (src/operations/registry.ts). */
  operations: O;
  /** Login and token tuning; defaults in DEFAULT_AUTH_SETTINGS. */
  auth?: Partial<AuthSettings>;
  /** CA, agent hub and monitor for host enrollment; without it host actions answer `unavailable`. */
  hosts?: HostRuntime;
  /** The disk master key (secrets/master-key.ts): needed to create encrypted disks. */
  masterKey?: MasterKey;
  /** Setting `disks.encrypt_by_default` (config.ts): qcow2 disks created without `encrypted`. */
  encryptByDefault?: boolean;
}

/** The engine's use cases. Routes call these; they never write SQL themselves. */
export interface Services<
  A extends AuditRecorder = AuditRecorder,
  O extends OperationCreator = OperationCreator,
> {
  auth: AuthService;
  datacenters: DatacenterService;
  clusters: ClusterService;
  hosts: HostService;
  vms: VmService;
  disks: DiskService;
  storageDomains: StorageDomainService;
  snapshots: SnapshotService;
  /** Passed through so routes (events, operations) reach the same instances. */
  audit: A;
  operations: O;
}

export function createServices<A extends AuditRecorder, O extends OperationCreator>(
  deps: ServiceDeps<A, O>,
): Services<A, O> {
  const { db, log, audit, operations } = deps;
  return {
    auth: createAuthService({ db, log, audit, settings: deps.auth }),
    datacenters: createDatacenterService({ db, log, audit }),
    clusters: createClusterService({ db, log, audit }),
    hosts: createHostService({ db, log, audit, operations, ...(deps.hosts ? { runtime: deps.hosts } : {}) }),
    vms: createVmService({
      db,
      log,
      audit,
      operations,
      ...(deps.masterKey ? { masterKey: deps.masterKey } : {}),
      ...(deps.encryptByDefault === undefined ? {} : { encryptByDefault: deps.encryptByDefault }),
    }),
    disks: createDiskService({
      db,
      log,
      audit,
      operations,
      ...(deps.masterKey ? { masterKey: deps.masterKey } : {}),
      ...(deps.encryptByDefault === undefined ? {} : { encryptByDefault: deps.encryptByDefault }),
    }),
    snapshots: createSnapshotService({ db, log, audit, operations }),
    storageDomains: createStorageDomainService({ db, log, audit, operations, agents: deps.hosts?.agents }),
    audit,
    operations,
  };
}
