import { connect as tcpConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Reverter } from '../../setup/reverter';
import {
  type AgentFiles,
  agentFiles,
  DEFAULT_DEPLOY_PATHS,
  type DeployPaths,
  supervisorScript,
  systemdUnit,
} from './agent-service';
import { DeployError } from './errors';
import { DeployLog, type DeployLogLine } from './log';
import { isSupportedOs, parseOsRelease } from './os-release';
import { HOST_DEB_PACKAGES } from './packages';
import type { AgentPayload } from './payload';
import { type SshAuth, SshSession, sh } from './ssh';

/** The host to deploy to, as the administrator gave it (`POST /hosts` with an `ssh` block). */
export interface DeployTarget {
  address: string;
  /** SSH port (22). */
  port?: number;
  user: string;
  auth: SshAuth;
  /** Enforced when given; otherwise the presented fingerprint is returned for pinning. */
  hostKey?: { sha256: string };
}

/** How the agent is enrolled: its TLS files (issued by the engine's CA) and/or a join token. */
export interface DeployEnrollment {
  tls?: { caPem: string; certPem: string; keyPem: string };
  /** Written to `configDir/join-token` (0600) for `vireo-agent join`. */
  joinToken?: string;
}

export interface DeployOptions {
  log: Logger;
  signal?: AbortSignal;
  payload: AgentPayload;
  enrollment: DeployEnrollment;
  /** Agent settings: where it listens (default `ADDRESS:54321`) and the accelerator (default auto). */
  agent?: { listen?: string; accel?: 'auto' | 'kvm' | 'tcg'; logLevel?: string };
  /** Target paths (defaults: {@link DEFAULT_DEPLOY_PATHS}). */
  paths?: Partial<DeployPaths>;
  /** `auto` uses systemd when `systemctl is-system-running` says it runs. */
  service?: 'auto' | 'systemd' | 'process';
  /** The Node.js binary on the host (≥ 20). */
  node?: string;
  /** How long the agent gets to accept TCP connections on its port after starting (ms). */
  startTimeoutMs?: number;
}

export interface DeployResult {
  /** The fingerprint the host presented: store it as the host's pin. */
  hostKey: { sha256: string };
  os: string;
  virtualization: 'kvm' | 'tcg';
  service: 'systemd' | 'process';
  /** Where the agent listens (`host:port`). */
  agentAddress: string;
  log: DeployLogLine[];
}

/** A failed deploy: the coded error, and the log up to the failure (for `install_failed`). */
export class DeployFailure extends DeployError {
  constructor(
    cause: DeployError,
    readonly log: DeployLogLine[],
  ) {
    super(cause.code, cause.message, { details: cause.details, cause });
  }
}

const AGENT_PORT = 54321;

/**
 * Installs and starts the Vireo agent on a Debian 12 host over SSH: verify the host key, check the
 * OS and virtualization, install missing packages, unpack the agent, write its configuration and
 * credentials, start it (systemd or a supervised process) and wait until it listens. Every step
 * that changed the host is undone if a later one fails. Resolves with the deploy log; rejects with
 * a {@link DeployFailure} carrying the log.
 */
export async function deployHost(target: DeployTarget, opts: DeployOptions): Promise<DeployResult> {
  const log = new DeployLog(opts.log.child({ host_address: target.address }));
  if ('password' in target.auth) log.protect(target.auth.password);
  else log.protect(target.auth.passphrase);
  log.protect(opts.enrollment.joinToken);
  log.protect(opts.enrollment.tls?.keyPem);

  const reverter = new HostReverter();
  let session: SshSession | undefined;
  try {
    log.info(`connecting to ${target.user}@${target.address}:${target.port ?? 22}`);
    session = await SshSession.connect(target, opts.signal);
    log.info(
      target.hostKey
        ? `host key ${session.hostKeySha256} matches the pinned fingerprint`
        : `host key ${session.hostKeySha256} accepted on first contact (pin it)`,
    );
    const result = await install(session, target, opts, log, reverter);
    reverter.success();
    log.info('deploy finished');
    return { ...result, hostKey: { sha256: session.hostKeySha256 }, log: log.lines };
  } catch (err) {
    const coded =
      err instanceof DeployError
        ? err
        : new DeployError('agent_start_failed', `deploy failed: ${(err as Error).message}`, { cause: err });
    log.warn(`failed: ${coded.message}`);
    if (session) {
      await reverter.revert((what, undoErr) =>
        log.warn(`undo "${what}" failed: ${(undoErr as Error).message}`),
      );
      log.info('changes on the host were undone');
    }
    throw new DeployFailure(coded, log.lines);
  } finally {
    session?.close();
  }
}

async function install(
  ssh: SshSession,
  target: DeployTarget,
  opts: DeployOptions,
  log: DeployLog,
  reverter: HostReverter,
): Promise<Omit<DeployResult, 'hostKey' | 'log'>> {
  const paths: DeployPaths = { ...DEFAULT_DEPLOY_PATHS, ...opts.paths };
  const files = agentFiles(paths, opts.payload.entry);
  const node = opts.node ?? 'node';
  const check = () => {
    if (opts.signal?.aborted) throw new DeployError('agent_start_failed', 'the deploy was cancelled');
  };

  // 0. The deploy writes under /etc and /opt and manages services: it needs root, not sudo prompts.
  const uid = await ssh.exec('id -u');
  if (uid.stdout.trim() !== '0') {
    throw new DeployError(
      'ssh_auth_failed',
      `${target.user} is not root on the host; log in as root to deploy`,
      {
        details: { reason: 'not_root' },
      },
    );
  }

  // 1. Operating system.
  const osText = await ssh.exec(`cat ${sh(paths.osRelease)}`);
  const os = parseOsRelease(osText.code === 0 ? osText.stdout : '');
  if (!isSupportedOs(os)) {
    throw new DeployError(
      'unsupported_os',
      `the host runs ${os.prettyName || os.id || 'an unknown system'}; Vireo hosts need Debian 12`,
      { details: { id: os.id, version_id: os.versionId } },
    );
  }
  log.info(`operating system: ${os.prettyName || `${os.id} ${os.versionId}`}`);
  check();

  // 2. Packages (never removed on failure: other software may rely on them, and a re-run reuses them).
  const query = await ssh.exec(
    `dpkg-query -W -f='\${Package} \${Status}\\n' ${HOST_DEB_PACKAGES.join(' ')} 2>/dev/null`,
  );
  const installed = new Set(
    query.stdout
      .split('\n')
      .filter((l) => l.endsWith('install ok installed'))
      .map((l) => l.split(' ')[0]),
  );
  const missing = HOST_DEB_PACKAGES.filter((p) => !installed.has(p));
  if (missing.length === 0) log.info('Debian packages: all present');
  else {
    log.info(`installing Debian packages: ${missing.join(' ')}`);
    const env = 'DEBIAN_FRONTEND=noninteractive';
    const apt = await ssh.exec(
      `${env} apt-get update -q && ${env} apt-get install -y -q --no-install-recommends ${missing.join(' ')}`,
      900_000,
    );
    if (apt.code !== 0) {
      throw new DeployError(
        'package_install_failed',
        `apt-get failed (exit ${apt.code}): ${lastLines(apt.stderr)}`,
        {
          details: { packages: missing },
        },
      );
    }
    log.info('Debian packages installed');
  }
  check();

  // 3. Virtualization: KVM when the device exists, else QEMU's TCG (needs the binary).
  const virt = await ssh.exec(
    'if [ -e /dev/kvm ]; then echo kvm; elif command -v qemu-system-x86_64 >/dev/null; then echo tcg; fi',
  );
  const virtualization = virt.stdout.trim();
  if (virtualization !== 'kvm' && virtualization !== 'tcg') {
    throw new DeployError('unsupported_os', 'the host has neither /dev/kvm nor qemu-system-x86_64', {
      details: { reason: 'no_virtualization' },
    });
  }
  log.info(`virtualization: ${virtualization}`);
  const nodeVersion = await ssh.exec(`${sh(node)} --version`);
  const major = Number(/^v(\d+)\./.exec(nodeVersion.stdout.trim())?.[1] ?? 0);
  if (nodeVersion.code !== 0 || major < 20) {
    throw new DeployError('unsupported_os', `the agent needs Node.js 20 or newer at ${node} on the host`, {
      details: { reason: 'node_missing', found: nodeVersion.stdout.trim() },
    });
  }
  log.info(`Node.js ${nodeVersion.stdout.trim()}`);
  check();

  // 4. Payload.
  await makeDir(ssh, paths.installDir, reverter, log);
  const remoteTar = `${paths.installDir}/.payload.tar.gz`;
  await ssh.upload(opts.payload.tarball, remoteTar, 0o600);
  const unpack = await ssh.exec(
    `set -e; echo ${sh(`${opts.payload.sha256}  ${remoteTar}`)} | sha256sum -c --quiet; tar -xzf ${sh(remoteTar)} -C ${sh(paths.installDir)}; rm -f ${sh(remoteTar)}`,
  );
  if (unpack.code !== 0) {
    throw new DeployError('agent_start_failed', `unpacking the agent failed: ${lastLines(unpack.stderr)}`);
  }
  log.info(`agent unpacked into ${paths.installDir} (sha256 ${opts.payload.sha256.slice(0, 12)}…)`);
  check();

  // 5. Configuration and credentials (SFTP, created with their final modes; never on a command line).
  await makeDir(ssh, paths.configDir, reverter, log);
  await makeDir(ssh, paths.runDir, reverter, log);
  const listen = opts.agent?.listen ?? `${target.address}:${AGENT_PORT}`;
  const config = {
    state_dir: paths.stateDir,
    listen,
    ca: files.ca,
    cert: files.cert,
    key: files.key,
    accel: opts.agent?.accel ?? 'auto',
    log_level: opts.agent?.logLevel ?? 'info',
  };
  await writeRemote(ssh, files.config, `${JSON.stringify(config, null, 2)}\n`, 0o644, reverter);
  if (opts.enrollment.tls) {
    await makeDir(ssh, files.tlsDir, reverter, log, 0o700);
    await writeRemote(ssh, files.ca, opts.enrollment.tls.caPem, 0o644, reverter);
    await writeRemote(ssh, files.cert, opts.enrollment.tls.certPem, 0o644, reverter);
    await writeRemote(ssh, files.key, opts.enrollment.tls.keyPem, 0o600, reverter);
    log.info('agent certificate and key written (key mode 0600)');
  }
  if (opts.enrollment.joinToken) {
    await writeRemote(ssh, files.joinToken, `${opts.enrollment.joinToken}\n`, 0o600, reverter);
    log.info(`join token written to ${files.joinToken} (mode 0600)`);
  }
  log.info(`agent configuration written to ${files.config} (listen ${listen})`);
  check();

  // 6. Start. The agent creates its state directory; if this deploy fails it must not stay behind.
  const state = await ssh.exec(`[ -e ${sh(paths.stateDir)} ] && echo exists`);
  if (state.stdout.trim() !== 'exists') {
    reverter.add(`remove ${paths.stateDir}`, () => ssh.exec(`rm -rf ${sh(paths.stateDir)}`));
  }
  const service = await chooseService(ssh, opts.service ?? 'auto');
  if (service === 'systemd') await startSystemd(ssh, files, paths, node, reverter, log);
  else await startSupervised(ssh, files, node, reverter, log);
  await waitListening(listen, opts.startTimeoutMs ?? 20_000, opts.signal).catch(async (err) => {
    const tail = await ssh.exec(
      service === 'systemd' ? 'journalctl -u vireo-agent -n 20 --no-pager' : `tail -n 20 ${sh(files.log)}`,
    );
    for (const line of tail.stdout.trim().split('\n').filter(Boolean)) log.warn(`agent: ${line}`);
    throw new DeployError(
      'agent_start_failed',
      `the agent did not start listening on ${listen}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  });
  log.info(
    `agent listening on ${listen} (${service === 'systemd' ? 'systemd unit vireo-agent' : 'supervised process'})`,
  );
  return { os: os.prettyName || `${os.id} ${os.versionId}`, virtualization, service, agentAddress: listen };
}

/** A Reverter that also knows which directories this deploy created (and will remove whole). */
class HostReverter extends Reverter {
  readonly createdDirs: string[] = [];
}

async function makeDir(
  ssh: SshSession,
  dir: string,
  reverter: HostReverter,
  log: DeployLog,
  mode = 0o755,
): Promise<void> {
  const r = await ssh.exec(
    `if [ -e ${sh(dir)} ]; then echo exists; else mkdir -p -m ${mode.toString(8)} ${sh(dir)} && echo created; fi`,
  );
  if (r.code !== 0)
    throw new DeployError('agent_start_failed', `cannot create ${dir}: ${lastLines(r.stderr)}`);
  if (r.stdout.trim() === 'created') {
    reverter.add(`remove ${dir}`, () => ssh.exec(`rm -rf ${sh(dir)}`));
    reverter.createdDirs.push(dir);
    log.info(`created ${dir}`);
  }
}

async function writeRemote(
  ssh: SshSession,
  path: string,
  data: string,
  mode: number,
  reverter: HostReverter,
): Promise<void> {
  await ssh.writeFile(path, data, mode);
  // A file inside a directory this deploy created goes with the directory.
  if (reverter.createdDirs.some((dir) => path.startsWith(`${dir}/`))) return;
  reverter.add(`remove ${path}`, () => ssh.exec(`rm -f ${sh(path)}`));
}

async function chooseService(
  ssh: SshSession,
  wanted: 'auto' | 'systemd' | 'process',
): Promise<'systemd' | 'process'> {
  if (wanted !== 'auto') return wanted;
  const state = await ssh.exec('systemctl is-system-running 2>/dev/null');
  return ['running', 'degraded', 'starting'].includes(state.stdout.trim()) ? 'systemd' : 'process';
}

async function startSystemd(
  ssh: SshSession,
  files: AgentFiles,
  paths: DeployPaths,
  node: string,
  reverter: HostReverter,
  log: DeployLog,
): Promise<void> {
  const nodePath = (await ssh.exec(`command -v ${sh(node)}`)).stdout.trim() || node;
  await writeRemote(ssh, paths.systemdUnit, systemdUnit(files, nodePath), 0o644, reverter);
  const r = await ssh.exec('systemctl daemon-reload && systemctl enable --now vireo-agent.service');
  if (r.code !== 0) throw new DeployError('agent_start_failed', `systemctl failed: ${lastLines(r.stderr)}`);
  reverter.add('stop the vireo-agent unit', () =>
    ssh.exec('systemctl disable --now vireo-agent.service; systemctl daemon-reload'),
  );
  log.info('systemd unit vireo-agent enabled and started');
}

async function startSupervised(
  ssh: SshSession,
  files: AgentFiles,
  node: string,
  reverter: HostReverter,
  log: DeployLog,
): Promise<void> {
  await writeRemote(ssh, files.supervisor, supervisorScript(files, node), 0o755, reverter);
  // setsid -f: the supervisor leads its own session, detached from this SSH channel.
  const r = await ssh.exec(`setsid -f /bin/sh ${sh(files.supervisor)} </dev/null >/dev/null 2>&1`);
  if (r.code !== 0)
    throw new DeployError('agent_start_failed', `starting the agent failed: ${lastLines(r.stderr)}`);
  // The supervisor stops its agent on TERM and removes the pidfile once the agent has exited; give it
  // 10 s, then kill the whole process group (the supervisor is its leader).
  const pidfile = sh(files.pidfile);
  reverter.add('stop the supervised agent', () =>
    ssh.exec(
      `p=$(cat ${pidfile} 2>/dev/null) || exit 0; kill -TERM "$p"; i=0; ` +
        `while [ -e ${pidfile} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ` +
        `kill -KILL -- "-$p" 2>/dev/null; rm -f ${pidfile}`,
    ),
  );
  let pid = '';
  for (let i = 0; i < 50 && !pid; i++) {
    pid = (await ssh.exec(`cat ${sh(files.pidfile)} 2>/dev/null`)).stdout.trim();
    if (!pid) await sleep(100);
  }
  if (!/^\d+$/.test(pid))
    throw new DeployError('agent_start_failed', 'the agent supervisor did not write its pidfile');
  log.info(`agent supervisor started (pid ${pid}, pidfile ${files.pidfile}, log ${files.log})`);
}

/** Resolves once `host:port` accepts a TCP connection: the agent is up and reachable from the engine. */
async function waitListening(listen: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const idx = listen.lastIndexOf(':');
  const host = listen.slice(0, idx).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(idx + 1));
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error('cancelled');
    try {
      await new Promise<void>((resolve, reject) => {
        const s = tcpConnect({ host, port, timeout: 1000 }, () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
        s.once('timeout', () => {
          s.destroy();
          reject(new Error('connect timeout'));
        });
      });
      return;
    } catch (err) {
      last = err;
      await sleep(200);
    }
  }
  throw new Error(`no answer within ${timeoutMs} ms (${(last as Error | undefined)?.message ?? 'timeout'})`);
}

function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
