import { readFile } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AGENT_CAPABILITIES } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config';
import { ConfigError } from '../config';
import { recoverVms, type RecoverySummary } from '../recovery/recover';
import { createMethodHandlers, type HostService } from '../rpc/methods';
import { CertificateRenewer } from '../rpc/certificate';
import { consoleUpgradeHandler } from '../rpc/console';
import { AgentRpcServer } from '../rpc/server';
import { StorageDomains } from '../storage/domains';
import { UserspaceNfsImages } from '../storage/nfs/images';
import { UserspaceNfsTransfers } from '../storage/nfs/transfers';
import { detectNfsMode } from '../storage/nfs/mode';
import { TransferManager, transferHandlers, transferRequestHandler } from '../storage/transfers';
import { loadAgentId } from '../util/agent-id';
import { InstanceLock } from '../util/instance-lock';
import { checkStateDirLength, vmsDir } from '../vm/paths';
import { type EventSink, VmRuntime } from '../vm/runtime';

export const AGENT_VERSION = '0.1.0';

/**
 * Node flags the agent should run with (`node <flags> vireo-agent.js serve`): the agent is I/O
 * bound and long-lived, and these cut its resident memory by ~20 MiB (a 1 MiB young generation
 * instead of up to 16 MiB, no optimizing or baseline compiler threads and code) at no measurable
 * cost to start latency. See docs/agent.md ("Running the agent").
 */
export const RECOMMENDED_NODE_FLAGS = ['--max-semi-space-size=1', '--no-opt', '--no-sparkplug'] as const;

/** A running agent (the `serve` command, or in-process in tests). */
export interface RunningAgent {
  /** `host:port` the RPC server listens on. */
  address: string;
  agentId: string;
  runtime: VmRuntime;
  server: AgentRpcServer;
  recovery: RecoverySummary;
  /** The storage domains active on this host (roots allowed by the runtime's image policy). */
  domains: StorageDomains;
  /** Stops serving and lets go of the VMs; their QEMUs keep running. */
  close(): Promise<void>;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? err}); ` +
        'for a development set-up run "vireo-agent dev-ca"',
    );
  }
}

/**
 * The composition: state directory (locked against a second agent) → identity → accelerator →
 * runtime → recovery of the VMs already running → RPC server → stats loop.
 */
export async function startAgent(
  config: AgentConfig,
  log: Logger,
  options: {
    host?: HostService;
    resolveAccel?: (setting: AgentConfig['accel']) => Promise<'kvm' | 'tcg'>;
  } = {},
): Promise<RunningAgent> {
  checkStateDirLength(config.stateDir);
  await mkdir(vmsDir(config.stateDir), { recursive: true, mode: 0o700 });
  const tls = {
    ca: await readPem(config.tls.ca, 'CA certificate'),
    cert: await readPem(config.tls.cert, 'agent certificate'),
    key: await readPem(config.tls.key, 'agent key'),
  };
  const lock = await InstanceLock.acquire(join(config.stateDir, 'agent.lock'));
  try {
    const agentId = await loadAgentId(config.stateDir);
    const accel = config.accel === 'auto' ? ((await options.resolveAccel?.('auto')) ?? 'tcg') : config.accel;
    log.info({ agent_id: agentId, accel, state_dir: config.stateDir }, 'starting');

    let sink: EventSink = () => undefined;
    const runtime = new VmRuntime(
      {
        stateDir: config.stateDir,
        agentId,
        accel,
        qemuBinary: config.qemuBinary,
        imageDirs: config.imageDirs,
        allowBlockDevices: config.allowBlockDevices,
        vncPorts: config.vncPorts,
        vncWebsocketPorts: config.vncWebsocketPorts,
        hotplugPorts: config.hotplugPorts,
        sandbox: config.sandbox,
        shutdownTimeoutS: config.shutdownTimeoutS,
        ...(config.sealDir ? { sealDir: config.sealDir } : {}),
      },
      (event, params) => sink(event, params),
      log.child({ module: 'agent:vm' }),
    );
    // Before recovery: re-adopted VMs reference files inside the domains active before the restart.
    // Without a kernel NFS client, nfs domains are served in userspace mode (ADR 027).
    const nfsMode = await detectNfsMode(process.env.VIREO_AGENT_NFS_MODE);
    log.info(
      { nfs_mode: nfsMode.mode, reason: nfsMode.reason },
      'nfs storage domains: %s mode',
      nfsMode.mode,
    );
    const domains = new StorageDomains({
      stateDir: config.stateDir,
      policy: runtime.images,
      log: log.child({ module: 'agent:storage' }),
      nfsMode,
      hostName: hostname(),
    });
    if (nfsMode.mode === 'userspace') runtime.images.remote = new UserspaceNfsImages(domains);
    await domains.restore();
    const recovery = await recoverVms(runtime);
    const transfers = new TransferManager(
      (id) => domains.rootOf(id),
      log.child({ module: 'agent:transfers' }),
      // Userspace-mode nfs domains: staged in the state dir, written through NFS (ADR 027).
      new UserspaceNfsTransfers({ domain: (id) => domains.userspaceDomain(id), stateDir: config.stateDir }),
    );
    const capabilities = AGENT_CAPABILITIES.filter((c) => options.host || c !== 'host.stats');
    const server = new AgentRpcServer({
      host: config.listen.host,
      port: config.listen.port,
      tls,
      handlers: createMethodHandlers(runtime, options.host, domains),
      hello: { agent_version: AGENT_VERSION, agent_id: agentId, hostname: hostname(), capabilities },
      log: log.child({ module: 'agent:rpc' }),
      upgrade: consoleUpgradeHandler({ runtime, log }),
      request: transferRequestHandler(transfers, log.child({ module: 'agent:transfers' })),
    });
    Object.assign(server.handlers, transferHandlers(transfers));
    const renewer = new CertificateRenewer({ files: config.tls, apply: (next) => server.setTls(next) });
    server.handlers['agent.renew_certificate'] = () => renewer.renew();
    server.handlers['agent.install_certificate'] = (p) => renewer.install(p.certificate);
    sink = server.emit;
    const address = await server.listen();

    // Sampling costs a /proc read and a QMP round trip per VM: only while someone listens.
    let sampling = false;
    const timer = setInterval(async () => {
      if (!server.hasEventReceiver || sampling) return;
      sampling = true;
      try {
        const vms = await runtime.sampleStats();
        server.emit('vm.stats', { at: new Date().toISOString(), vms });
        if (options.host) server.emit('host.stats', (await options.host.stats()) as never);
      } catch (err) {
        log.warn({ err }, 'stats sampling failed');
      } finally {
        sampling = false;
      }
    }, config.statsIntervalS * 1000);
    timer.unref();

    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return {
      address: `${host}:${address.port}`,
      agentId,
      runtime,
      server,
      recovery,
      domains,
      close: async () => {
        clearInterval(timer);
        transfers.close();
        await server.close();
        await runtime.close();
        await lock.release();
      },
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}
