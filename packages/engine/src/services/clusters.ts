import type { ClusterCreate, ClusterUpdate } from '@vireo/api';
import type { Logger } from 'pino';
import {
  CLUSTER_NAME_CONSTRAINT,
  type ClusterFields,
  type ClusterFilter,
  deleteCluster,
  findCluster,
  insertCluster,
  listClusters,
  lockCluster,
  updateCluster,
} from '../db/repositories/clusters';
import { CLUSTER_DATACENTER_FK, findDatacenter } from '../db/repositories/datacenters';
import type { PageRequest, PageResult } from '../db/repositories/list';
import { isForeignKeyViolation, isUniqueViolation } from '../db/repositories/pg-errors';
import type { Db } from '../db/schema';
import type { ClusterRow } from '../db/tables/inventory';
import { CLUSTER_DEFAULTS, checkClusterFields } from '../domain/inventory';
import { Conflict, NotFound, PreconditionFailed } from '../errors';
import type { Actor } from './actor';
import { notFound as datacenterNotFound } from './datacenters';
import type { AuditRecorder } from './ports';
import type { ExpectedVersion } from './versioning';

export interface ClusterService {
  list(page: PageRequest, filter?: ClusterFilter): Promise<PageResult<ClusterRow & { sort_key: string }>>;
  /** @throws NotFound `cluster_not_found` */
  get(id: string): Promise<ClusterRow>;
  /** @throws NotFound `datacenter_not_found`, Conflict `cluster_name_taken` */
  create(actor: Actor, input: ClusterCreate): Promise<ClusterRow>;
  /** @throws NotFound, PreconditionFailed `etag_mismatch`, Conflict `cluster_name_taken` */
  update(actor: Actor, id: string, expected: ExpectedVersion, patch: ClusterUpdate): Promise<ClusterRow>;
  /** @throws NotFound, PreconditionFailed, Conflict `cluster_not_empty` */
  delete(actor: Actor, id: string, expected: ExpectedVersion): Promise<void>;
}

function notFound(id: string): NotFound {
  return new NotFound('cluster_not_found', `cluster ${id} does not exist`, { details: { id } });
}

function nameTaken(name: string, datacenterId: string, cause: unknown): Conflict {
  return new Conflict('cluster_name_taken', `a cluster named "${name}" already exists in this data center`, {
    details: { name, datacenter_id: datacenterId },
    cause,
  });
}

function etagMismatch(id: string, current: number): PreconditionFailed {
  return new PreconditionFailed(
    'etag_mismatch',
    `cluster ${id} changed since it was read; fetch it again and retry`,
    {
      details: { id, current_etag: `"${current}"` },
    },
  );
}

export function createClusterService(deps: { db: Db; log: Logger; audit: AuditRecorder }): ClusterService {
  const { db, audit } = deps;

  return {
    list: (page, filter) => listClusters(db, page, filter),

    async get(id) {
      const row = await findCluster(db, id);
      if (!row) throw notFound(id);
      return row;
    },

    async create(actor, input) {
      checkClusterFields(input);
      const { datacenter_id, ...rest } = input;
      const fields: ClusterFields = { ...CLUSTER_DEFAULTS, ...rest };
      try {
        return await db.transaction().execute(async (tx) => {
          const dc = await findDatacenter(tx, datacenter_id);
          if (!dc) throw datacenterNotFound(datacenter_id);
          const row = await insertCluster(tx, { ...fields, datacenter_id });
          await audit.record(tx, {
            kind: 'cluster.created',
            severity: 'info',
            message: `Cluster ${row.name} was created in data center ${dc.name} by ${actor.username}`,
            object: { kind: 'cluster', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { fields: { ...fields, datacenter_id } },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, CLUSTER_NAME_CONSTRAINT)) throw nameTaken(fields.name, datacenter_id, err);
        // The data center was deleted between our read and the insert.
        if (isForeignKeyViolation(err, CLUSTER_DATACENTER_FK)) throw datacenterNotFound(datacenter_id);
        throw err;
      }
    },

    async update(actor, id, expected, patch) {
      checkClusterFields(patch);
      let datacenterId = '';
      try {
        return await db.transaction().execute(async (tx) => {
          const before = await lockCluster(tx, id);
          if (!before) throw notFound(id);
          datacenterId = before.datacenter_id;
          if (expected !== 'any' && expected !== before.version) throw etagMismatch(id, before.version);
          const row = await updateCluster(tx, id, before.version, patch);
          if (!row) throw etagMismatch(id, before.version);
          await audit.record(tx, {
            kind: 'cluster.updated',
            severity: 'info',
            message: `Cluster ${row.name} was updated by ${actor.username}`,
            object: { kind: 'cluster', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { changes: patch, ...(patch.name ? { previous_name: before.name } : {}) },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, CLUSTER_NAME_CONSTRAINT))
          throw nameTaken(patch.name ?? '', datacenterId, err);
        throw err;
      }
    },

    async delete(actor, id, expected) {
      try {
        await db.transaction().execute(async (tx) => {
          const row = await lockCluster(tx, id);
          if (!row) throw notFound(id);
          if (expected !== 'any' && expected !== row.version) throw etagMismatch(id, row.version);
          await deleteCluster(tx, id);
          await audit.record(tx, {
            kind: 'cluster.deleted',
            severity: 'info',
            message: `Cluster ${row.name} was deleted by ${actor.username}`,
            object: { kind: 'cluster', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
          });
        });
      } catch (err) {
        // Hosts and VMs (later migrations) reference clusters with ON DELETE RESTRICT; until their
        // services list them here, the constraint names what blocks the delete.
        if (isForeignKeyViolation(err)) {
          const e = err as { table?: string };
          throw new Conflict(
            'cluster_not_empty',
            `cluster ${id} still has objects in it; remove them first`,
            {
              details: { blocking: [], blocking_table: e.table ?? null },
              cause: err,
            },
          );
        }
        throw err;
      }
    },
  };
}
