import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import {
  DEFAULT_AGENT_PORT,
  type HostCreate,
  type HostJoin,
  type HostJoined,
  JOIN_TOKEN_TTL_DEFAULT_S,
  type JoinTokenCreate,
  type JoinTokenCreated,
} from '@vireo/api';
import { certificateInfo } from '@vireo/pki';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { findCluster } from '../db/repositories/clusters';
import {
  countActiveVmsOnHost,
  deleteHost,
  findHost,
  HOST_NAME_CONSTRAINT,
  type HostFilter,
  insertHost,
  insertJoinToken,
  listHosts,
  lockHost,
  lockJoinToken,
  markJoinTokenUsed,
  recordCertificate,
  updateHost,
} from '../db/repositories/hosts';
import type { PageRequest, PageResult } from '../db/repositories/list';
import { isUniqueViolation } from '../db/repositories/pg-errors';
import { localDomainsOfHost } from '../db/repositories/storage-domains';
import type { Db, Executor } from '../db/schema';
import type { HostRow } from '../db/tables/hosts';
import { Conflict, InvalidInput, NotFound, TooManyRequests, Unauthenticated, Unavailable } from '../errors';
import type { DeployLogLine } from '../hosts/deploy';
import {
  type DeployCredentials,
  type DeploySettings,
  HOST_DEPLOY,
  readDeployLog,
} from '../hosts/deploy-operation';
import type { EngineCa } from '../pki/engine-ca';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';

/** What the host service needs beyond the database: the CA, the agents, the monitor. */
export interface HostRuntime {
  ca: EngineCa;
  agents: AgentHub;
  /** Starts/stops the engine's connection to a host (the monitor). */
  track(host: HostRow): void;
  untrack(hostId: string): void;
  /** Validity of issued host certificates (short in renewal tests). */
  hostCertificateValidityMs?: number;
  /** Called with each host certificate issued (the engine keeps a public copy for `pki status`). */
  certificateIssued?(hostId: string, pem: string): void;
  /** SSH deploy (`POST /hosts`): where credentials wait for their operation, and its settings. */
  deploy?: { credentials: DeployCredentials; settings: DeploySettings };
}

export interface HostService {
  list(page: PageRequest, filter?: HostFilter): Promise<PageResult<HostRow & { sort_key: string }>>;
  /** @throws NotFound `host_not_found` */
  get(id: string): Promise<HostRow>;
  /** @throws NotFound `cluster_not_found` */
  createJoinToken(actor: Actor, input: JoinTokenCreate): Promise<JoinTokenCreated>;
  /**
   * Enrolls a host with a single-use join token: creates it, issues its certificate for the
   * public key it sent, and starts connecting to it.
   * @throws Unauthenticated `join_token_invalid` (unknown, expired or used; `details.reason`),
   *   TooManyRequests `too_many_join_attempts`, InvalidInput `invalid_public_key`,
   *   Conflict `host_name_taken`
   */
  join(input: HostJoin, clientAddress: string): Promise<HostJoined>;
  /**
   * Adds a host by SSH deploy: a host row `installing`, a join token bound to it and a
   * `host.deploy` operation; the SSH secrets stay in memory for that operation only.
   * `requestUrl` (the engine as the caller reached it) is the last fallback for the engine URL.
   * @throws NotFound `cluster_not_found`, Conflict `host_name_taken`, InvalidInput `invalid_ssh_auth`
   */
  create(
    actor: Actor,
    input: HostCreate,
    requestUrl: string,
  ): Promise<{ hostId: string; operationId: string }>;
  /** The log of the host's last SSH deploy. @throws NotFound `host_not_found` */
  deployLog(id: string): Promise<DeployLogLine[]>;
  /**
   * Moves the host to `preparing_maintenance` (nothing new is placed there) and starts a
   * `host.maintenance` operation that finishes once the host runs no VMs.
   * @throws NotFound `host_not_found`
   */
  enterMaintenance(actor: Actor, id: string): Promise<{ operationId: string }>;
  /** Leaves (or aborts entering) maintenance. @throws NotFound, Conflict `host_not_in_maintenance` */
  activate(actor: Actor, id: string): Promise<HostRow>;
  /** In maintenance or `install_failed`. @throws NotFound, Conflict `host_not_in_maintenance` | `host_has_vms` */
  remove(actor: Actor, id: string): Promise<void>;
}

/** Failed join attempts allowed per client address per window before 429. */
const JOIN_FAILURES_PER_WINDOW = 10;
const JOIN_WINDOW_MS = 60_000;

export function hashJoinToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function notFound(id: string): NotFound {
  return new NotFound('host_not_found', `host ${id} does not exist`, { details: { id } });
}

function invalidToken(reason: 'unknown' | 'expired' | 'used'): Unauthenticated {
  const why = { unknown: 'is not known', expired: 'has expired', used: 'was already used' }[reason];
  return new Unauthenticated(
    'join_token_invalid',
    `the join token ${why}; ask an administrator for a new one`,
    {
      details: { reason },
    },
  );
}

/** Only ECDSA P-256 SPKI keys: what every agent generates, and what the CA signs for. */
function checkPublicKey(pem: string): void {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return;
  } catch (err) {
    throw new InvalidInput('invalid_public_key', 'public_key is not a PEM public key', { cause: err });
  }
  throw new InvalidInput('invalid_public_key', 'public_key must be an ECDSA P-256 key (SPKI PEM)');
}

export function createHostService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  operations: OperationCreator;
  runtime?: HostRuntime;
}): HostService {
  const { db, audit } = deps;
  const log = deps.log.child({ module: 'engine:hosts' });
  const failures = new Map<string, { count: number; since: number }>();

  const runtime = (): HostRuntime => {
    if (!deps.runtime) throw new Unavailable('unavailable', 'this engine runs without host management');
    return deps.runtime;
  };

  const throttle = (address: string) => {
    const f = failures.get(address);
    if (f && Date.now() - f.since < JOIN_WINDOW_MS && f.count >= JOIN_FAILURES_PER_WINDOW) {
      const retry = Math.max(1, Math.ceil((f.since + JOIN_WINDOW_MS - Date.now()) / 1000));
      throw new TooManyRequests(
        'too_many_join_attempts',
        'too many failed join attempts; wait and retry',
        retry,
      );
    }
  };
  const recordFailure = (address: string) => {
    const now = Date.now();
    const f = failures.get(address);
    if (!f || now - f.since >= JOIN_WINDOW_MS) failures.set(address, { count: 1, since: now });
    else f.count++;
    if (failures.size > 10_000) failures.clear(); // bounded memory under a flood of addresses
  };

  const vmsOn = async (hostId: string): Promise<number> => {
    const { agents } = runtime();
    const list = await agents.call(hostId, 'vm.list', {}, { timeoutMs: 15_000 });
    return list.vms.filter((v) => v.state !== 'down').length;
  };

  const setAdminState = async (
    ex: Executor,
    actor: Actor,
    host: HostRow,
    state: string,
    reason: string,
  ): Promise<HostRow> => {
    const row = await updateHost(ex, host.id, { state, state_reason: reason, state_changed_at: new Date() });
    await audit.record(ex, {
      kind: 'host.state_changed',
      severity: 'info',
      message: `Host ${host.name} is now ${state} (by ${actor.username})`,
      object: { kind: 'host', id: host.id, name: host.name },
      userId: actor.userId,
      username: actor.username,
      details: { from: host.state, to: state, reason },
    });
    return row ?? host;
  };

  const get = async (id: string): Promise<HostRow> => {
    const row = await findHost(db, id);
    if (!row) throw notFound(id);
    return row;
  };

  return {
    list: (page, filter) => listHosts(db, page, filter),
    get,

    async createJoinToken(actor, input) {
      const { ca } = runtime();
      const cluster = await findCluster(db, input.cluster_id);
      if (!cluster) {
        throw new NotFound('cluster_not_found', `cluster ${input.cluster_id} does not exist`, {
          details: { id: input.cluster_id },
        });
      }
      const token = `vjt_${randomBytes(32).toString('base64url')}`;
      const expiresAt = new Date(Date.now() + (input.ttl_s ?? JOIN_TOKEN_TTL_DEFAULT_S) * 1000);
      await db.transaction().execute(async (tx) => {
        const { id } = await insertJoinToken(tx, {
          token_hash: hashJoinToken(token),
          cluster_id: cluster.id,
          expires_at: expiresAt,
          created_by: actor.userId,
        });
        await audit.record(tx, {
          kind: 'host.join_token_created',
          severity: 'info',
          message: `A host join token for cluster ${cluster.name} was created by ${actor.username}`,
          object: { kind: 'cluster', id: cluster.id, name: cluster.name },
          userId: actor.userId,
          username: actor.username,
          details: { token_id: id, expires_at: expiresAt.toISOString() },
        });
      });
      return {
        token,
        expires_at: expiresAt.toISOString(),
        cluster_id: cluster.id,
        ca_fingerprint: ca.info().fingerprintSha256,
      };
    },

    async join(input, clientAddress) {
      const rt = runtime();
      throttle(clientAddress);
      let host: HostRow;
      let certificate: string;
      try {
        checkPublicKey(input.public_key);
        ({ host, certificate } = await db.transaction().execute(async (tx) => {
          const token = await lockJoinToken(tx, hashJoinToken(input.token));
          if (!token) throw invalidToken('unknown');
          if (token.used_at) throw invalidToken('used');
          if (token.expires_at.getTime() <= Date.now()) throw invalidToken('expired');
          // A deploy's token enrolls the row POST /hosts created, and only while it installs.
          const created = token.host_id
            ? await claimDeployedHost(tx, token.host_id, input.port ?? DEFAULT_AGENT_PORT)
            : await insertHost(tx, {
                name: input.name,
                address: input.address,
                cluster_id: token.cluster_id,
                agent_port: input.port ?? DEFAULT_AGENT_PORT,
                state: 'installing',
              });
          const pem = await rt.ca.issueHostCertificateForKey({
            hostId: created.id,
            address: input.address,
            publicKeyPem: input.public_key,
            // A deployed host is dialled at the address it was added with.
            ...(token.host_id ? { address: created.address } : {}),
            ...(rt.hostCertificateValidityMs ? { validityMs: rt.hostCertificateValidityMs } : {}),
          });
          const info = certificateInfo(pem);
          await recordCertificate(tx, {
            kind: 'host',
            subject_id: created.id,
            subject_name: created.name,
            serial: info.serial,
            not_before: info.notBefore,
            not_after: info.notAfter,
            fingerprint: info.fingerprintSha256,
          });
          const row = await updateHost(tx, created.id, {
            state: 'connecting',
            state_reason: 'enrolled; waiting for the agent to answer',
            state_changed_at: new Date(),
            certificate_serial: info.serial,
            certificate_not_after: info.notAfter,
          });
          await markJoinTokenUsed(tx, token.id, created.id);
          await audit.record(tx, {
            kind: 'host.enrolled',
            severity: 'info',
            message: `Host ${created.name} (${input.address}) joined with a join token`,
            object: { kind: 'host', id: created.id, name: created.name },
            details: { token_id: token.id, cluster_id: token.cluster_id, client_address: clientAddress },
          });
          return { host: row ?? created, certificate: pem };
        }));
      } catch (err) {
        if (err instanceof Unauthenticated || err instanceof InvalidInput) recordFailure(clientAddress);
        if (isUniqueViolation(err, HOST_NAME_CONSTRAINT)) {
          throw new Conflict('host_name_taken', `a host named "${input.name}" already exists`, {
            details: { name: input.name },
            cause: err,
          });
        }
        throw err;
      }
      log.info({ hostId: host.id, name: host.name, address: host.address }, 'host enrolled');
      rt.certificateIssued?.(host.id, certificate);
      rt.track(host);
      return { host_id: host.id, certificate, ca: rt.ca.certPem };
    },

    async create(actor, input, requestUrl) {
      const rt = runtime();
      if (!rt.deploy) throw new Unavailable('unavailable', 'this engine cannot deploy hosts over SSH');
      const { ssh } = input;
      if ((ssh.password === undefined) === (ssh.private_key === undefined)) {
        throw new InvalidInput('invalid_input', 'ssh needs exactly one of password and private_key', {
          details: { field: 'ssh' },
        });
      }
      const cluster = await findCluster(db, input.cluster_id);
      if (!cluster) {
        throw new NotFound('cluster_not_found', `cluster ${input.cluster_id} does not exist`, {
          details: { id: input.cluster_id },
        });
      }
      const token = `vjt_${randomBytes(32).toString('base64url')}`;
      let made: { hostId: string; operationId: string };
      try {
        made = await db.transaction().execute(async (tx) => {
          const host = await insertHost(tx, {
            name: input.name,
            address: input.address,
            cluster_id: cluster.id,
            agent_port: DEFAULT_AGENT_PORT,
            state: 'installing',
          });
          await insertJoinToken(tx, {
            token_hash: hashJoinToken(token),
            cluster_id: cluster.id,
            expires_at: new Date(Date.now() + JOIN_TOKEN_TTL_DEFAULT_S * 1000),
            created_by: actor.userId,
          });
          await tx
            .updateTable('join_tokens')
            .set({ host_id: host.id })
            .where('token_hash', '=', hashJoinToken(token))
            .execute();
          // The input names the target but holds no secret: those stay in memory (ADR 015).
          const op = await deps.operations.create(tx, {
            type: HOST_DEPLOY,
            target: { kind: 'host', id: host.id },
            createdBy: actor.userId,
            input: {
              address: input.address,
              ssh: {
                user: ssh.user,
                port: ssh.port ?? 22,
                auth: ssh.password !== undefined ? 'password' : 'private_key',
                ...(ssh.host_key_sha256 ? { host_key_sha256: ssh.host_key_sha256 } : {}),
              },
            },
          });
          await audit.record(tx, {
            kind: 'host.created',
            severity: 'info',
            message: `Host ${host.name} (${input.address}) is being installed over SSH by ${actor.username}`,
            object: { kind: 'host', id: host.id, name: host.name },
            userId: actor.userId,
            username: actor.username,
            details: { operation_id: op.id, cluster_id: cluster.id },
          });
          return { hostId: host.id, operationId: op.id };
        });
      } catch (err) {
        if (isUniqueViolation(err, HOST_NAME_CONSTRAINT)) {
          throw new Conflict('host_name_taken', `a host named "${input.name}" already exists`, {
            details: { name: input.name },
            cause: err,
          });
        }
        throw err;
      }
      rt.deploy.credentials.put(made.operationId, {
        target: {
          address: input.address,
          port: ssh.port ?? 22,
          user: ssh.user,
          auth:
            ssh.password !== undefined ? { password: ssh.password } : { privateKey: ssh.private_key ?? '' },
          ...(ssh.host_key_sha256 ? { hostKey: { sha256: ssh.host_key_sha256 } } : {}),
        },
        token,
        engineUrl: input.engine_url ?? rt.deploy.settings.engineUrlForHosts ?? requestUrl,
      });
      return made;
    },

    async deployLog(id) {
      await get(id);
      return readDeployLog(db, id);
    },

    async enterMaintenance(actor, id) {
      runtime();
      return db.transaction().execute(async (tx) => {
        const locked = await lockHost(tx, id);
        if (!locked) throw notFound(id);
        if (locked.state !== 'maintenance' && locked.state !== 'preparing_maintenance') {
          await setAdminState(tx, actor, locked, 'preparing_maintenance', 'waiting for its VMs to stop');
        }
        const op = await deps.operations.create(tx, {
          type: 'host.maintenance',
          target: { kind: 'host', id },
          createdBy: actor.userId,
        });
        return { operationId: op.id };
      });
    },

    async activate(actor, id) {
      const rt = runtime();
      const row = await db.transaction().execute(async (tx) => {
        const locked = await lockHost(tx, id);
        if (!locked) throw notFound(id);
        if (locked.state !== 'maintenance' && locked.state !== 'preparing_maintenance') {
          throw new Conflict('host_not_in_maintenance', `host ${locked.name} is not in maintenance`, {
            details: { id, state: locked.state },
          });
        }
        const connected = rt.agents.isConnected(id);
        return setAdminState(
          tx,
          actor,
          locked,
          connected ? 'up' : 'connecting',
          connected ? '' : 'activated',
        );
      });
      return row;
    },

    async remove(actor, id) {
      const rt = runtime();
      const host = await get(id);
      // A host whose install failed never ran VMs: it may go without maintenance first.
      if (host.state !== 'maintenance' && host.state !== 'install_failed') {
        throw new Conflict(
          'host_not_in_maintenance',
          `put host ${host.name} in maintenance before removing it`,
          {
            details: { id, state: host.state },
          },
        );
      }
      if (rt.agents.isConnected(id) && (await vmsOn(id)) > 0) {
        throw new Conflict('host_has_vms', `host ${host.name} still has VMs; stop them first`, {
          details: { id },
        });
      }
      await db.transaction().execute(async (tx) => {
        const locked = await lockHost(tx, id);
        if (!locked) throw notFound(id);
        const active = await countActiveVmsOnHost(tx, id);
        if (active > 0) {
          throw new Conflict(
            'host_has_vms',
            `host ${host.name} has ${active} VM(s) meant to run; stop them first`,
            {
              details: { id, vms: active },
            },
          );
        }
        // Its local storage domains would be left pointing at nothing (the key is RESTRICT).
        const domains = await localDomainsOfHost(tx, id);
        if (domains.length > 0) {
          throw new Conflict(
            'storage_domain_in_use',
            `host ${host.name} holds local storage domains; remove them first`,
            {
              details: { id, blocking: domains.map((d) => ({ kind: 'storage_domain', ...d })) },
            },
          );
        }
        await deleteHost(tx, id);
        await audit.record(tx, {
          kind: 'host.removed',
          severity: 'info',
          message: `Host ${host.name} was removed by ${actor.username}`,
          object: { kind: 'host', id, name: host.name },
          userId: actor.userId,
          username: actor.username,
        });
      });
      rt.untrack(id);
    },
  };
}

/** Locks the `installing` host a deploy created, for its join; anything else refuses the token. */
async function claimDeployedHost(tx: Executor, hostId: string, port: number): Promise<HostRow> {
  const host = await lockHost(tx, hostId);
  if (host?.state !== 'installing') throw invalidToken('used');
  await tx.updateTable('hosts').set({ agent_port: port }).where('id', '=', hostId).execute();
  return { ...host, agent_port: port };
}
