import type { DataCenterCreate, DataCenterUpdate } from '@vireo/api';
import type { Logger } from 'pino';
import {
  DATACENTER_NAME_CONSTRAINT,
  type DatacenterFields,
  datacenterChildren,
  deleteDatacenter,
  findDatacenter,
  insertDatacenter,
  listDatacenters,
  lockDatacenter,
  updateDatacenter,
} from '../db/repositories/datacenters';
import type { PageRequest, PageResult } from '../db/repositories/list';
import { isForeignKeyViolation, isUniqueViolation } from '../db/repositories/pg-errors';
import { domainsOfDatacenter } from '../db/repositories/storage-domains';
import type { Db, Executor } from '../db/schema';
import type { DatacenterRow } from '../db/tables/inventory';
import { checkDatacenterFields, DATACENTER_DEFAULTS } from '../domain/inventory';
import { Conflict, NotFound, PreconditionFailed } from '../errors';
import type { Actor } from './actor';
import type { AuditRecorder } from './ports';
import type { ExpectedVersion } from './versioning';

/** How many blocking children a 409 names; the total is always given. */
const BLOCKING_LIST_MAX = 20;

export interface DatacenterService {
  list(page: PageRequest): Promise<PageResult<DatacenterRow & { sort_key: string }>>;
  /** @throws NotFound `datacenter_not_found` */
  get(id: string): Promise<DatacenterRow>;
  /** @throws Conflict `datacenter_name_taken` */
  create(actor: Actor, input: DataCenterCreate): Promise<DatacenterRow>;
  /** @throws NotFound, PreconditionFailed `etag_mismatch`, Conflict `datacenter_name_taken` */
  update(
    actor: Actor,
    id: string,
    expected: ExpectedVersion,
    patch: DataCenterUpdate,
  ): Promise<DatacenterRow>;
  /** @throws NotFound, PreconditionFailed, Conflict `datacenter_not_empty` (details.blocking) */
  delete(actor: Actor, id: string, expected: ExpectedVersion): Promise<void>;
}

export function notFound(id: string): NotFound {
  return new NotFound('datacenter_not_found', `data center ${id} does not exist`, { details: { id } });
}

function nameTaken(name: string, cause: unknown): Conflict {
  return new Conflict('datacenter_name_taken', `a data center named "${name}" already exists`, {
    details: { name },
    cause,
  });
}

function etagMismatch(id: string, current: number): PreconditionFailed {
  return new PreconditionFailed(
    'etag_mismatch',
    `data center ${id} changed since it was read; fetch it again and retry`,
    { details: { id, current_etag: `"${current}"` } },
  );
}

export function createDatacenterService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
}): DatacenterService {
  const { db, audit } = deps;

  async function notEmpty(ex: Executor, row: DatacenterRow): Promise<Conflict> {
    const children = await datacenterChildren(ex, row.id, BLOCKING_LIST_MAX);
    return new Conflict(
      'datacenter_not_empty',
      `data center "${row.name}" still has ${children.total} cluster(s); delete or move them first`,
      { details: { blocking: children.items, blocking_total: children.total } },
    );
  }

  return {
    list: (page) => listDatacenters(db, page),

    async get(id) {
      const row = await findDatacenter(db, id);
      if (!row) throw notFound(id);
      return row;
    },

    async create(actor, input) {
      checkDatacenterFields(input);
      const fields: DatacenterFields = { ...DATACENTER_DEFAULTS, ...input };
      try {
        return await db.transaction().execute(async (tx) => {
          const row = await insertDatacenter(tx, fields);
          await audit.record(tx, {
            kind: 'datacenter.created',
            severity: 'info',
            message: `Data center ${row.name} was created by ${actor.username}`,
            object: { kind: 'datacenter', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { fields },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, DATACENTER_NAME_CONSTRAINT)) throw nameTaken(fields.name, err);
        throw err;
      }
    },

    async update(actor, id, expected, patch) {
      checkDatacenterFields(patch);
      try {
        return await db.transaction().execute(async (tx) => {
          const before = await lockDatacenter(tx, id);
          if (!before) throw notFound(id);
          if (expected !== 'any' && expected !== before.version) throw etagMismatch(id, before.version);
          const row = await updateDatacenter(tx, id, before.version, patch);
          // The row is locked, so it cannot have changed between the check and the update.
          if (!row) throw etagMismatch(id, before.version);
          await audit.record(tx, {
            kind: 'datacenter.updated',
            severity: 'info',
            message: `Data center ${row.name} was updated by ${actor.username}`,
            object: { kind: 'datacenter', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { changes: patch, ...(patch.name ? { previous_name: before.name } : {}) },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, DATACENTER_NAME_CONSTRAINT)) throw nameTaken(patch.name ?? '', err);
        throw err;
      }
    },

    async delete(actor, id, expected) {
      try {
        await db.transaction().execute(async (tx) => {
          const row = await lockDatacenter(tx, id);
          if (!row) throw notFound(id);
          if (expected !== 'any' && expected !== row.version) throw etagMismatch(id, row.version);
          // A cluster inserted concurrently waits on the FK's key share lock against our FOR UPDATE,
          // then fails; checking children here gives the user the list instead of a bare FK error.
          const children = await datacenterChildren(tx, id, 1);
          if (children.total > 0) throw await notEmpty(tx, row);
          const domains = await domainsOfDatacenter(tx, id, BLOCKING_LIST_MAX);
          if (domains.length > 0) {
            throw new Conflict(
              'datacenter_not_empty',
              `data center "${row.name}" still has storage domains attached; detach them first`,
              { details: { blocking: domains.map((d) => ({ kind: 'storage_domain', ...d })) } },
            );
          }
          await deleteDatacenter(tx, id);
          await audit.record(tx, {
            kind: 'datacenter.deleted',
            severity: 'info',
            message: `Data center ${row.name} was deleted by ${actor.username}`,
            object: { kind: 'datacenter', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
          });
        });
      } catch (err) {
        if (isForeignKeyViolation(err)) {
          const row = await findDatacenter(db, id);
          if (row) throw await notEmpty(db, row);
        }
        throw err;
      }
    },
  };
}
