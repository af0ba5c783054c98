import { randomUUID } from 'node:crypto';
import type { IsoFile } from '@vireo/agent-protocol';
import type { StorageDomainCreate, StorageDomainImport, StorageDomainUpdate } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { findDatacenter } from '../db/repositories/datacenters';
import { findHost } from '../db/repositories/hosts';
import type { PageRequest, PageResult } from '../db/repositories/list';
import { isForeignKeyViolation, isUniqueViolation } from '../db/repositories/pg-errors';
import {
  datacenterOfHost,
  deleteStorageDomain,
  findStorageDomain,
  insertStorageDomain,
  listStorageDomains,
  lockStorageDomain,
  runningVmsUsing,
  STORAGE_DOMAIN_NAME_CONSTRAINT,
  type StorageDomainFilter,
  setStorageDomainState,
  storageDomainDisks,
  updateStorageDomain,
  upHostsInDatacenter,
  forgetEndedTransfers,
  storageDomainOtherUsers,
} from '../db/repositories/storage-domains';
import type { Db, Executor } from '../db/schema';
import type { StorageDomainRow, StorageDomainState } from '../db/tables/storage';
import { NFS_MOUNT_BASE } from '../domain/storage/ref';
import { Conflict, InvalidInput, NotFound, PreconditionFailed, Unavailable } from '../errors';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';
import type { ExpectedVersion } from './versioning';

const BLOCKING_LIST_MAX = 20;

/** The storage-domain actions that run as operations (`storage_domain.<action>`). */
export type StorageDomainAction = 'attach' | 'detach' | 'activate' | 'maintenance';

export interface StorageDomainService {
  list(
    page: PageRequest,
    filter?: StorageDomainFilter,
  ): Promise<PageResult<StorageDomainRow & { sort_key: string }>>;
  /** @throws NotFound `storage_domain_not_found` */
  get(id: string): Promise<StorageDomainRow>;
  /** @throws InvalidInput, NotFound `host_not_found`, Conflict `storage_domain_name_taken` */
  create(actor: Actor, input: StorageDomainCreate): Promise<StorageDomainRow>;
  update(
    actor: Actor,
    id: string,
    expected: ExpectedVersion,
    patch: StorageDomainUpdate,
  ): Promise<StorageDomainRow>;
  /** @throws Conflict `storage_domain_attached` | `storage_domain_not_empty` (details.blocking) */
  delete(actor: Actor, id: string, expected: ExpectedVersion): Promise<void>;
  /**
   * Starts `storage_domain.<action>`; the domain is `locked` until it ends.
   * @throws Conflict `storage_domain_state_invalid` | `storage_domain_in_use`
   */
  act(
    actor: Actor,
    id: string,
    action: StorageDomainAction,
    input?: { datacenter_id?: string },
  ): Promise<{ operationId: string }>;
  /** Files of an ISO domain, as a host that has it active lists them. */
  isos(id: string): Promise<IsoFile[]>;
  /** Registers the (unowned) domains found under a location; they come in unattached. */
  import(actor: Actor, input: StorageDomainImport): Promise<StorageDomainRow[]>;
}

export function storageDomainNotFound(id: string): NotFound {
  return new NotFound('storage_domain_not_found', `storage domain ${id} does not exist`, { details: { id } });
}

function stateInvalid(
  row: StorageDomainRow,
  action: string,
  allowed: readonly StorageDomainState[],
): Conflict {
  return new Conflict(
    'storage_domain_state_invalid',
    `storage domain ${row.name} is ${row.state}; ${action} needs it ${allowed.join(' or ')}`,
    { details: { id: row.id, state: row.state, allowed } },
  );
}

/** From which states each action may start. */
const ALLOWED: Record<StorageDomainAction, readonly StorageDomainState[]> = {
  attach: ['unattached'],
  activate: ['maintenance', 'inactive', 'active'],
  maintenance: ['active', 'inactive'],
  detach: ['maintenance'],
};

export function createStorageDomainService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  operations: OperationCreator;
  agents?: AgentHub | undefined;
}): StorageDomainService {
  const { db, audit, operations } = deps;

  async function lockOrThrow(ex: Executor, id: string): Promise<StorageDomainRow> {
    const row = await lockStorageDomain(ex, id);
    if (!row) throw storageDomainNotFound(id);
    return row;
  }

  function agents(): AgentHub {
    if (!deps.agents) throw new Unavailable('unavailable', 'this engine has no agent connections');
    return deps.agents;
  }

  /** A connected, up host that can look at the domain (a local domain: only its own host). */
  async function lookingHost(
    ex: Executor,
    row: Pick<StorageDomainRow, 'backend' | 'host_id' | 'datacenter_id'>,
  ) {
    const hub = agents();
    const candidates = row.host_id
      ? [row.host_id]
      : row.datacenter_id
        ? (await upHostsInDatacenter(ex, row.datacenter_id)).map((h) => h.id)
        : [];
    const host = candidates.find((h) => hub.isConnected(h));
    if (!host) {
      throw new Unavailable('storage_domain_unreachable', 'no connected host can reach this storage domain', {
        details: { candidates },
      });
    }
    return host;
  }

  return {
    list: (page, filter) => listStorageDomains(db, page, filter),

    async get(id) {
      const row = await findStorageDomain(db, id);
      if (!row) throw storageDomainNotFound(id);
      return row;
    },

    async create(actor, input) {
      const id = randomUUID();
      const fields = {
        id,
        ...checkLocation(input, id),
        name: input.name,
        description: input.description ?? '',
        kind: input.kind,
      };
      if (fields.host_id && !(await findHost(db, fields.host_id))) {
        throw new NotFound('host_not_found', `host ${fields.host_id} does not exist`, {
          details: { id: fields.host_id },
        });
      }
      try {
        return await db.transaction().execute(async (tx) => {
          const row = await insertStorageDomain(tx, fields);
          await audit.record(tx, {
            kind: 'storage_domain.created',
            severity: 'info',
            message: `Storage domain ${row.name} (${row.kind}, ${row.backend}) was created by ${actor.username}`,
            object: { kind: 'storage_domain', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { kind: row.kind, backend: row.backend, path: row.path, host_id: row.host_id },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, STORAGE_DOMAIN_NAME_CONSTRAINT)) throw nameTaken(input.name, err);
        throw err;
      }
    },

    async update(actor, id, expected, patch) {
      try {
        return await db.transaction().execute(async (tx) => {
          const before = await lockOrThrow(tx, id);
          if (expected !== 'any' && expected !== before.version) throw etagMismatch(id, before.version);
          const row = await updateStorageDomain(tx, id, before.version, patch);
          if (!row) throw etagMismatch(id, before.version);
          await audit.record(tx, {
            kind: 'storage_domain.updated',
            severity: 'info',
            message: `Storage domain ${row.name} was updated by ${actor.username}`,
            object: { kind: 'storage_domain', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { changes: patch, ...(patch.name ? { previous_name: before.name } : {}) },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, STORAGE_DOMAIN_NAME_CONSTRAINT)) throw nameTaken(patch.name ?? '', err);
        throw err;
      }
    },

    async delete(actor, id, expected) {
      await db.transaction().execute(async (tx) => {
        const row = await lockOrThrow(tx, id);
        if (expected !== 'any' && expected !== row.version) throw etagMismatch(id, row.version);
        if (row.state !== 'unattached') {
          throw new Conflict(
            'storage_domain_attached',
            `storage domain ${row.name} is attached to a data center; put it in maintenance and detach it first`,
            { details: { id, state: row.state, datacenter_id: row.datacenter_id } },
          );
        }
        const disks = await storageDomainDisks(tx, id, BLOCKING_LIST_MAX);
        if (disks.total > 0) {
          throw new Conflict(
            'storage_domain_not_empty',
            `storage domain ${row.name} still holds ${disks.total} disk(s); delete or move them first`,
            { details: { blocking: disks.items, blocking_total: disks.total } },
          );
        }
        const users = await tx
          .selectFrom('vms')
          .select(['id', 'name'])
          .where('cdrom_storage_domain_id', '=', id)
          .limit(BLOCKING_LIST_MAX)
          .execute();
        if (users.length > 0) {
          throw new Conflict('storage_domain_in_use', `VMs use ISO files of storage domain ${row.name}`, {
            details: { blocking: users.map((u) => ({ kind: 'vm', id: u.id, name: u.name })) },
          });
        }
        const others = await storageDomainOtherUsers(tx, id, BLOCKING_LIST_MAX);
        if (others.length > 0) {
          throw new Conflict(
            'storage_domain_in_use',
            `storage domain ${row.name} is still used by ${others.map((o) => o.kind).join(', ')}`,
            { details: { blocking: others } },
          );
        }
        await forgetEndedTransfers(tx, id);
        try {
          await deleteStorageDomain(tx, id);
        } catch (err) {
          // Anything not checked above that still points at the domain: a coded refusal, not a 500.
          if (isForeignKeyViolation(err)) {
            throw new Conflict('storage_domain_in_use', `storage domain ${row.name} is still in use`, {
              cause: err,
            });
          }
          throw err;
        }
        await audit.record(tx, {
          kind: 'storage_domain.deleted',
          severity: 'info',
          // The files stay: removing a domain forgets it; wiping storage is a person's decision.
          message: `Storage domain ${row.name} was removed by ${actor.username} (its files stay on storage)`,
          object: { kind: 'storage_domain', id: row.id, name: row.name },
          userId: actor.userId,
          username: actor.username,
          details: { path: row.path, backend: row.backend },
        });
      });
    },

    async act(actor, id, action, input = {}) {
      return db.transaction().execute(async (tx) => {
        const row = await lockOrThrow(tx, id);
        if (!ALLOWED[action].includes(row.state)) throw stateInvalid(row, action, ALLOWED[action]);
        const opInput: Record<string, unknown> = { from_state: row.state };
        if (action === 'attach') {
          const dcId = input.datacenter_id;
          if (!dcId || !(await findDatacenter(tx, dcId))) {
            throw new NotFound('datacenter_not_found', `data center ${dcId} does not exist`, {
              details: { id: dcId },
            });
          }
          if (row.host_id && (await datacenterOfHost(tx, row.host_id)) !== dcId) {
            throw new Conflict(
              'storage_domain_state_invalid',
              `local storage domain ${row.name} can only join the data center of its host`,
              { details: { id, host_id: row.host_id, datacenter_id: dcId } },
            );
          }
          opInput.datacenter_id = dcId;
        }
        if (action === 'maintenance') {
          const users = await runningVmsUsing(tx, id, BLOCKING_LIST_MAX);
          if (users.length > 0) {
            throw new Conflict(
              'storage_domain_in_use',
              `VMs that are not down use storage domain ${row.name}: ${users.map((u) => u.name).join(', ')}${users.length >= BLOCKING_LIST_MAX ? ', …' : ''} (stop them first)`,
              {
                details: { blocking: users.map((u) => ({ kind: 'vm', id: u.id, name: u.name })) },
              },
            );
          }
        }
        await setStorageDomainState(tx, id, 'locked', `${action} in progress`);
        const op = await operations.create(tx, {
          type: `storage_domain.${action}`,
          target: { kind: 'storage_domain', id },
          createdBy: actor.userId,
          input: opInput,
        });
        await audit.record(tx, {
          kind: `storage_domain.${action}_requested`,
          severity: 'info',
          message: `${actor.username} asked to ${action} storage domain ${row.name}`,
          object: { kind: 'storage_domain', id: row.id, name: row.name },
          userId: actor.userId,
          username: actor.username,
          details: { operation_id: op.id, ...opInput },
        });
        return { operationId: op.id };
      });
    },

    async isos(id) {
      const row = await findStorageDomain(db, id);
      if (!row) throw storageDomainNotFound(id);
      if (row.kind !== 'iso') {
        throw new Conflict(
          'storage_domain_state_invalid',
          `storage domain ${row.name} is not an ISO domain`,
          {
            details: { id, kind: row.kind },
          },
        );
      }
      if (row.state !== 'active') throw stateInvalid(row, 'listing ISO files', ['active']);
      const host = await lookingHost(db, row);
      const res = await agents().call(host, 'storage.list_isos', { id });
      return res.files;
    },

    async import(actor, input) {
      const location = checkLocation({ ...input, kind: 'data' }, 'probe');
      const hostId =
        input.host_id ??
        (await db.selectFrom('hosts').select('id').where('state', '=', 'up').orderBy('name').execute())
          .map((h) => h.id)
          .find((h) => agents().isConnected(h));
      if (!hostId)
        throw new Unavailable('storage_domain_unreachable', 'no connected host to look at the storage');
      const probePath = input.backend === 'nfs' ? `${NFS_MOUNT_BASE}/probe-${randomUUID()}` : location.path;
      const { domains } = await agents().call(hostId, 'storage.probe', {
        backend: input.backend,
        path: probePath,
        ...(input.nfs_server ? { nfs_server: input.nfs_server } : {}),
        ...(input.nfs_export ? { nfs_export: input.nfs_export } : {}),
        ...(input.mount_options ? { mount_options: input.mount_options } : {}),
      });
      return db.transaction().execute(async (tx) => {
        const rows: StorageDomainRow[] = [];
        for (const md of domains) {
          if (await findStorageDomain(tx, md.id)) continue; // already known here
          if (md.owner_engine_id !== null) {
            throw new Conflict(
              'storage_domain_foreign',
              `storage domain ${md.name} (${md.id}) is still owned by engine ${md.owner_engine_id}; detach it there first`,
              { details: { id: md.id, owner_engine_id: md.owner_engine_id } },
            );
          }
          const fields = {
            ...checkLocation({ ...input, kind: md.kind }, md.id),
            ...(input.backend === 'local' ? { host_id: hostId } : {}),
            id: md.id,
            name: md.name,
            kind: md.kind,
            format_version: md.format_version,
          };
          let row: StorageDomainRow;
          try {
            row = await insertStorageDomain(tx, fields);
          } catch (err) {
            if (isUniqueViolation(err, STORAGE_DOMAIN_NAME_CONSTRAINT)) throw nameTaken(md.name, err);
            throw err;
          }
          await audit.record(tx, {
            kind: 'storage_domain.imported',
            severity: 'info',
            message: `Storage domain ${row.name} was imported by ${actor.username}`,
            object: { kind: 'storage_domain', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            // Disks inside are not registered yet (the export/import round adds them).
            details: { backend: row.backend, path: row.path, host_id: hostId, disks_imported: false },
          });
          rows.push(row);
        }
        return rows;
      });
    },
  };
}

/**
 * The location fields for the row, checked per backend. nfs: the mount point is derived from the id
 * (the agent owns it), so a client never picks a directory the agent would mount over.
 */
function checkLocation(
  input: Pick<
    StorageDomainCreate,
    'backend' | 'kind' | 'host_id' | 'path' | 'nfs_server' | 'nfs_export' | 'mount_options'
  >,
  id: string,
) {
  const bad = (message: string) =>
    new InvalidInput('invalid_input', message, { details: { backend: input.backend } });
  if (input.backend === 'nfs') {
    if (!input.nfs_server || !input.nfs_export) throw bad('an nfs domain needs nfs_server and nfs_export');
    if (input.path) throw bad('an nfs domain has no path: the engine derives the mount point');
    if (input.host_id)
      throw bad('an nfs domain is reachable from every host of its data center; host_id is for local');
    return {
      backend: 'nfs' as const,
      path: `${NFS_MOUNT_BASE}/${id}`,
      nfs_server: input.nfs_server,
      nfs_export: input.nfs_export,
      mount_options: input.mount_options ?? null,
    };
  }
  if (input.nfs_server || input.nfs_export || input.mount_options) {
    throw bad(`nfs_server, nfs_export and mount_options are for nfs domains, not ${input.backend}`);
  }
  if (!input.path) throw bad(`a ${input.backend} domain needs a path`);
  if (input.backend === 'local' && !input.host_id) throw bad('a local domain needs host_id');
  if (input.backend === 'posix' && input.host_id)
    throw bad('a posix domain is on every host; host_id is for local');
  return {
    backend: input.backend,
    path: input.path.replace(/\/+$/, '') || '/',
    host_id: input.backend === 'local' ? (input.host_id ?? null) : null,
  };
}

function nameTaken(name: string, cause: unknown): Conflict {
  return new Conflict('storage_domain_name_taken', `a storage domain named "${name}" already exists`, {
    details: { name },
    cause,
  });
}

function etagMismatch(id: string, current: number): PreconditionFailed {
  return new PreconditionFailed(
    'etag_mismatch',
    `storage domain ${id} changed since it was read; fetch it again and retry`,
    { details: { id, current_etag: `"${current}"` } },
  );
}
