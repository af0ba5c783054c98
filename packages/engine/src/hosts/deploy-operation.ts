import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { type LeasedJob, runLeased } from '../controllers/lease';
import { findHost, lockHost, updateHost } from '../db/repositories/hosts';
import type { Db } from '../db/schema';
import { Unavailable, VireoError } from '../errors';
import type { OperationHandler } from '../operations';
import type { EngineCa } from '../pki/engine-ca';
import type { AuditRecorder } from '../services/ports';
import {
  type DeployLogLine,
  type DeployOptions,
  type DeployPaths,
  type DeployTarget,
  DeployFailure,
  agentPayloadFor,
  deployHost,
  findSealApplianceSource,
} from './deploy';

export const HOST_DEPLOY = 'host.deploy';

/** What a deploy needs that must never be stored: the SSH access and the single-use join token. */
export interface DeploySecrets {
  target: DeployTarget;
  token: string;
  engineUrl: string;
}

/**
 * SSH credentials of pending deploys, in this engine's memory only (never in the database, the
 * operation input or a log). A deploy whose engine restarted finds nothing here and fails.
 */
export class DeployCredentials {
  private readonly pending = new Map<string, DeploySecrets>();

  put(operationId: string, secrets: DeploySecrets): void {
    this.pending.set(operationId, secrets);
  }

  /** Hands the secrets out once, waiting briefly: the runner may claim before `put` ran. */
  async take(operationId: string, signal: AbortSignal): Promise<DeploySecrets | undefined> {
    for (let i = 0; i < 50; i++) {
      const found = this.pending.get(operationId);
      if (found) {
        this.pending.delete(operationId);
        return found;
      }
      await sleep(100, undefined, { signal });
    }
    return undefined;
  }
}

/** Deploy knobs from the environment (tests deploy into temp paths, with a supervised process). */
export interface DeploySettings {
  /** Default engine URL for hosts (`VIREO_ENGINE_URL_FOR_HOSTS`). */
  engineUrlForHosts?: string;
  paths?: Partial<DeployPaths>;
  service?: DeployOptions['service'];
  node?: string;
  accel?: 'auto' | 'kvm' | 'tcg';
  /** How long the joined host gets to come `up` (ms). */
  upTimeoutMs: number;
  /**
   * Where the template seal appliance is on this machine (`VIREO_SEAL_APPLIANCE_DIR`); by default
   * the `.cache/test-guest` of the checkout the agent bundle is in.
   */
  sealApplianceDir?: string;
}

export function deploySettingsFromEnv(env: NodeJS.ProcessEnv): DeploySettings {
  const root = env.VIREO_DEPLOY_ROOT;
  const service = env.VIREO_DEPLOY_SERVICE;
  if (service !== undefined && !['auto', 'systemd', 'process'].includes(service)) {
    throw new Error('VIREO_DEPLOY_SERVICE must be auto, systemd or process');
  }
  const accel = env.VIREO_DEPLOY_ACCEL;
  if (accel !== undefined && !['auto', 'kvm', 'tcg'].includes(accel)) {
    throw new Error('VIREO_DEPLOY_ACCEL must be auto, kvm or tcg');
  }
  const upTimeoutMs = Number(env.VIREO_DEPLOY_UP_TIMEOUT_MS ?? 60_000);
  if (!Number.isInteger(upTimeoutMs) || upTimeoutMs < 1000) {
    throw new Error('VIREO_DEPLOY_UP_TIMEOUT_MS must be an integer of at least 1000');
  }
  const engineUrl = env.VIREO_ENGINE_URL_FOR_HOSTS;
  if (engineUrl !== undefined && !/^https:\/\/[^\s/]+$/.test(engineUrl)) {
    throw new Error('VIREO_ENGINE_URL_FOR_HOSTS must look like https://host:port');
  }
  return {
    ...(env.VIREO_ENGINE_URL_FOR_HOSTS ? { engineUrlForHosts: env.VIREO_ENGINE_URL_FOR_HOSTS } : {}),
    ...(root
      ? {
          paths: {
            installDir: `${root}/opt`,
            configDir: `${root}/etc`,
            stateDir: `${root}/state`,
            runDir: `${root}/run`,
            systemdUnit: `${root}/vireo-agent.service`,
          },
        }
      : {}),
    ...(service ? { service: service as DeployOptions['service'] } : {}),
    ...(env.VIREO_DEPLOY_NODE ? { node: env.VIREO_DEPLOY_NODE } : {}),
    ...(accel ? { accel: accel as 'auto' | 'kvm' | 'tcg' } : {}),
    ...(env.VIREO_SEAL_APPLIANCE_DIR ? { sealApplianceDir: env.VIREO_SEAL_APPLIANCE_DIR } : {}),
    upTimeoutMs,
  };
}

/** The stored log of a host's last SSH deploy (empty when none). */
export async function readDeployLog(db: Db, hostId: string): Promise<DeployLogLine[]> {
  const { rows } = await sql<{ deploy_log: DeployLogLine[] | null }>`
    SELECT deploy_log FROM hosts WHERE id = ${hostId}`.execute(db);
  return rows[0]?.deploy_log ?? [];
}

async function storeDeploy(db: Db, hostId: string, log: DeployLogLine[], hostKey?: string): Promise<void> {
  await sql`UPDATE hosts SET deploy_log = ${JSON.stringify(log)}::jsonb,
      ssh_host_key_sha256 = coalesce(${hostKey ?? null}, ssh_host_key_sha256)
    WHERE id = ${hostId}`.execute(db);
}

/**
 * `host.deploy`: installs the agent over SSH on the host row `POST /hosts` created (`installing`),
 * enrolls it with the join token bound to that row, pins the SSH host key and waits for the
 * monitor to report it `up`. Any failure leaves the host `install_failed` with the deploy log.
 * Not resumable: the SSH credentials lived in the memory of the engine that went away.
 */
export function hostDeployHandler(deps: {
  db: Db;
  audit: AuditRecorder;
  ca: EngineCa;
  credentials: DeployCredentials;
  agentBin: () => string | undefined;
  payloadCacheDir: string;
  settings: DeploySettings;
  log: Logger;
}): OperationHandler {
  const { db } = deps;

  const fail = async (hostId: string, reason: string, log: DeployLogLine[]) => {
    await db.transaction().execute(async (tx) => {
      const host = await findHost(tx, hostId);
      if (!host) return;
      await updateHost(tx, hostId, {
        state: 'install_failed',
        state_reason: reason,
        state_changed_at: new Date(),
      });
      // The token was for this deploy only: nobody may enroll with it afterwards.
      await tx.deleteFrom('join_tokens').where('host_id', '=', hostId).where('used_at', 'is', null).execute();
      await deps.audit.record(tx, {
        kind: 'host.state_changed',
        severity: 'error',
        message: `Installing host ${host.name} failed: ${reason}`,
        object: { kind: 'host', id: hostId, name: host.name },
        details: { from: host.state, to: 'install_failed', reason },
      });
    });
    await storeDeploy(db, hostId, log);
  };

  return {
    resumable: false,
    async run({ op, signal, progress, log }) {
      const hostId = op.target?.id;
      if (!hostId) throw new Error('host.deploy needs a host target');
      const secrets = await deps.credentials.take(op.id, signal);
      if (!secrets) {
        const reason = 'the SSH credentials are gone (the engine restarted); add the host again';
        await fail(hostId, reason, []);
        throw new Unavailable('unavailable', reason);
      }
      const host = await findHost(db, hostId);
      if (!host) throw new Error(`host ${hostId} was removed during its deploy`);
      let lines: DeployLogLine[] = [];
      try {
        const agentBin = deps.agentBin();
        if (!agentBin)
          throw new Unavailable('unavailable', 'the vireo-agent bundle was not found on the engine');
        await progress(0.1, 'preparing the agent payload');
        const payload = await agentPayloadFor({ agentBin, cacheDir: deps.payloadCacheDir });
        const sealAppliance = await findSealApplianceSource(
          deps.settings.sealApplianceDir ? { dir: deps.settings.sealApplianceDir } : { near: agentBin },
        );
        await progress(0.2, `installing the agent on ${host.address} over SSH`);
        const { settings } = deps;
        const result = await deployHost(secrets.target, {
          log,
          signal,
          payload,
          ...(sealAppliance ? { sealAppliance } : {}),
          enrollment: {
            join: {
              engineUrl: secrets.engineUrl,
              token: secrets.token,
              caPem: deps.ca.certPem,
              name: host.name,
            },
          },
          ...(settings.accel ? { agent: { accel: settings.accel } } : {}),
          ...(settings.paths ? { paths: settings.paths } : {}),
          ...(settings.service ? { service: settings.service } : {}),
          ...(settings.node ? { node: settings.node } : {}),
        });
        lines = result.log;
        await storeDeploy(db, hostId, lines, result.hostKey.sha256);
        if (result.joinedHostId && result.joinedHostId !== hostId) {
          throw new Error(`the agent joined as host ${result.joinedHostId}, not ${hostId}`);
        }
        await progress(0.8, 'waiting for the engine to connect to the agent');
        const deadline = Date.now() + deps.settings.upTimeoutMs;
        for (;;) {
          const now = await findHost(db, hostId);
          if (now?.state === 'up') {
            return {
              host_id: hostId,
              host_key_sha256: result.hostKey.sha256,
              virtualization: result.virtualization,
              seal_appliance: result.sealAppliance,
            };
          }
          if (Date.now() > deadline) {
            throw new Error(`the agent was installed but the host did not come up (it is ${now?.state})`);
          }
          await sleep(200, undefined, { signal });
        }
      } catch (err) {
        if (err instanceof DeployFailure) lines = err.log;
        const reason = (err as Error).message;
        await fail(hostId, reason, lines).catch((e) =>
          log.error({ err: e }, 'recording install_failed failed'),
        );
        if (err instanceof VireoError) throw err;
        throw new Unavailable('unavailable', `deploying host ${host.name} failed: ${reason}`, { cause: err });
      }
    },
  };
}

/**
 * A deploy whose engine died never reaches its handler's failure path: the runner fails the
 * operation with `engine_restarted`. This moves such hosts (still `installing`, with no deploy
 * operation pending or running) to `install_failed` and drops their unused join token.
 */
export async function failInterruptedDeploys(deps: { db: Db; audit: AuditRecorder }): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    SELECT h.id FROM hosts h
    WHERE h.state = 'installing'
      AND EXISTS (SELECT 1 FROM operations o WHERE o.type = ${HOST_DEPLOY} AND o.target_id = h.id)
      AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.type = ${HOST_DEPLOY} AND o.target_id = h.id
                      AND o.state IN ('pending', 'running'))`.execute(deps.db);
  let failed = 0;
  for (const { id } of rows) {
    const done = await deps.db.transaction().execute(async (tx) => {
      const host = await lockHost(tx, id);
      if (host?.state !== 'installing') return false;
      const reason = 'the engine restarted during the deploy; add the host again';
      await updateHost(tx, id, {
        state: 'install_failed',
        state_reason: reason,
        state_changed_at: new Date(),
      });
      await tx.deleteFrom('join_tokens').where('host_id', '=', id).where('used_at', 'is', null).execute();
      await deps.audit.record(tx, {
        kind: 'host.state_changed',
        severity: 'error',
        message: `Installing host ${host.name} failed: ${reason}`,
        object: { kind: 'host', id, name: host.name },
        details: { from: 'installing', to: 'install_failed', reason },
      });
      return true;
    });
    if (done) failed++;
  }
  return failed;
}

/** Name of the interrupted-deploy sweep in `job_leases`. */
export const DEPLOY_SWEEP_JOB = 'hosts.deploy_sweep';

/**
 * Runs {@link failInterruptedDeploys} now and every `everyMs`, leased: of several engines sharing a
 * database only one sweeps at a time.
 */
export function startDeploySweeper(
  deps: { db: Db; audit: AuditRecorder; log: Logger },
  everyMs: number,
  opts: { holder?: string } = {},
): LeasedJob {
  return runLeased(
    deps.db,
    DEPLOY_SWEEP_JOB,
    everyMs,
    async () => {
      await failInterruptedDeploys(deps);
    },
    { log: deps.log, ...(opts.holder ? { holder: opts.holder } : {}) },
  );
}
