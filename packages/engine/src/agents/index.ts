import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import { HostMonitor, hostMonitorSettingsFromEnv } from '../monitors/host-monitor';
import { HOST_MAINTENANCE, hostMaintenanceHandler } from '../monitors/maintenance';
import {
  DeployCredentials,
  deploySettingsFromEnv,
  HOST_DEPLOY,
  hostDeployHandler,
  startDeploySweeper,
} from '../hosts/deploy-operation';
import type { Operations } from '../operations';
import type { LeasedJob } from '../controllers/lease';
import type { EngineCa } from '../pki/engine-ca';
import type { EngineIdentity } from '../pki/engine-identity';
import { removeHostCertificateCopy, startCertificateRenewal, writeHostCertificateCopy } from '../pki/renewal';
import type { HostRuntime } from '../services/hosts';
import type { AuditRecorder } from '../services/ports';
import { AgentHubImpl } from './hub';
import { hostPathsFromEnv, localAgentImageArgs } from '../controllers/vm-runtime';
import { findAgentBinary, LocalHost } from './local-host';
import { createHostService } from '../services/hosts';
import path from 'node:path';

export type { AgentCallOptions, AgentHub, AgentHubEvents } from './types';
export { AgentCallFailed, AgentHubImpl, AgentUnavailable } from './hub';

/** Host management as the composition root wires it: hub + monitor + what the host service needs. */
export interface HostManagement {
  runtime: HostRuntime;
  hub: AgentHubImpl;
  monitor: HostMonitor;
  /** Records the engine's certificates, then starts connecting to every enrolled host. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Builds the agent hub (with the engine's client certificate) and the host monitor. Tuning comes
 * from the environment (`VIREO_HOST_HEARTBEAT_MS`, `VIREO_HOST_HEARTBEAT_TIMEOUT_MS`,
 * `VIREO_HOST_GRACE_MS`, `VIREO_HOST_CERT_VALIDITY_MS`, `VIREO_PKI_RENEW_CHECK_MS`) so tests can
 * make it fast.
 */
export async function createHostManagement(opts: {
  ca: EngineCa;
  paths: { root: string; pkiDir: string; secretsDir: string };
  /** The engine's own certificates; start() records them and keeps them renewed. */
  identity: EngineIdentity;
  db: Db;
  audit: AuditRecorder;
  log: Logger;
  version: string;
  /** Operations: host.maintenance is registered in its registry. */
  operations: Operations;
  env?: NodeJS.ProcessEnv;
}): Promise<HostManagement> {
  const env = opts.env ?? process.env;
  const hub = new AgentHubImpl({
    // Read at every connect: after a renewal new connections present the new client certificate.
    tls: () => opts.identity.clientTls(),
    log: opts.log,
    client: `vireo-engine ${opts.version}`,
  });
  const monitor = new HostMonitor(
    { db: opts.db, hub, audit: opts.audit, log: opts.log },
    hostMonitorSettingsFromEnv(env),
  );
  const validity = env.VIREO_HOST_CERT_VALIDITY_MS ? Number(env.VIREO_HOST_CERT_VALIDITY_MS) : undefined;
  if (validity !== undefined && (!Number.isInteger(validity) || validity < 10_000)) {
    throw new Error('VIREO_HOST_CERT_VALIDITY_MS must be an integer of at least 10000');
  }
  const deploy = { credentials: new DeployCredentials(), settings: deploySettingsFromEnv(env) };
  const runtime: HostRuntime = {
    ca: opts.ca,
    deploy,
    agents: hub,
    track: (host) => monitor.track(host),
    untrack: (hostId) => {
      monitor.untrack(hostId);
      removeHostCertificateCopy(opts.paths.pkiDir, hostId);
    },
    ...(validity ? { hostCertificateValidityMs: validity } : {}),
    certificateIssued: (hostId, pem) => writeHostCertificateCopy(opts.paths.pkiDir, hostId, pem),
  };
  const renewalDeps = {
    db: opts.db,
    agents: hub,
    ca: opts.ca,
    audit: opts.audit,
    log: opts.log.child({ module: 'engine:pki-renewal' }),
    pkiDir: opts.paths.pkiDir,
    ...(validity ? { validityMs: validity } : {}),
  };
  const renewEveryMs = Number(env.VIREO_PKI_RENEW_CHECK_MS ?? 3_600_000);
  if (!Number.isInteger(renewEveryMs) || renewEveryMs < 100) {
    throw new Error('VIREO_PKI_RENEW_CHECK_MS must be an integer of at least 100');
  }
  opts.operations.registry.register(
    HOST_MAINTENANCE,
    hostMaintenanceHandler({ db: opts.db, agents: hub, audit: opts.audit }),
  );
  opts.operations.registry.register(
    HOST_DEPLOY,
    hostDeployHandler({
      db: opts.db,
      audit: opts.audit,
      ca: opts.ca,
      credentials: deploy.credentials,
      agentBin: () => findAgentBinary(env),
      payloadCacheDir: path.join(opts.paths.root, 'agent-payloads'),
      settings: deploy.settings,
      log: opts.log,
    }),
  );
  let renewal: LeasedJob | undefined;
  let deploySweeper: { stop(): Promise<void> } | undefined;
  const localHost = env.VIREO_LOCAL_HOST === '1' ? localHostFrom(env, opts, runtime) : undefined;
  return {
    hub,
    monitor,
    runtime,
    async start() {
      await opts.identity.record(opts.db);
      opts.identity.start({ db: opts.db, audit: opts.audit }, renewEveryMs);
      await monitor.start();
      await localHost?.start();
      renewal = startCertificateRenewal(renewalDeps, renewEveryMs);
      deploySweeper = startDeploySweeper({ db: opts.db, audit: opts.audit, log: opts.log }, 5_000);
    },
    async stop() {
      await deploySweeper?.stop();
      await renewal?.stop();
      await opts.identity.stop();
      await localHost?.stop();
      await monitor.stop();
    },
  };
}

/**
 * All-in-one mode (`VIREO_LOCAL_HOST=1`, set by `npm start`): this machine's own agent, on
 * 127.0.0.1:`VIREO_LOCAL_AGENT_PORT` (default 54321), `--accel VIREO_LOCAL_AGENT_ACCEL` if given.
 */
function localHostFrom(
  env: NodeJS.ProcessEnv,
  opts: { db: Db; audit: AuditRecorder; log: Logger; paths: { root: string }; operations: Operations },
  runtime: HostRuntime,
): LocalHost {
  const agentBin = findAgentBinary(env);
  if (!agentBin)
    throw new Error('VIREO_LOCAL_HOST=1 but the vireo-agent bundle was not found; set VIREO_AGENT_BIN');
  const port = Number(env.VIREO_LOCAL_AGENT_PORT ?? 54321);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error('VIREO_LOCAL_AGENT_PORT must be a TCP port');
  const accel = env.VIREO_LOCAL_AGENT_ACCEL;
  if (accel !== undefined && !['auto', 'kvm', 'tcg'].includes(accel)) {
    throw new Error('VIREO_LOCAL_AGENT_ACCEL must be auto, kvm or tcg');
  }
  const hosts = createHostService({
    db: opts.db,
    log: opts.log,
    audit: opts.audit,
    operations: opts.operations,
    runtime,
  });
  return new LocalHost(
    { db: opts.db, hosts, log: opts.log },
    {
      stateDir: path.join(opts.paths.root, 'local-agent'),
      port,
      agentBin,
      serveArgs: [
        ...(accel ? ['--accel', accel] : []),
        ...localAgentImageArgs(hostPathsFromEnv(env, opts.paths.root)),
      ],
    },
  );
}
