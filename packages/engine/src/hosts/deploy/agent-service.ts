import { posix } from 'node:path';
import { sh } from './ssh';

/** Where the agent goes on the host. Defaults follow the FHS; tests point them into a temp dir. */
export interface DeployPaths {
  /** The unpacked payload (`vireo-agent.js`, `node_modules`). */
  installDir: string;
  /** `agent.json`, `join-token` and `tls/`. */
  configDir: string;
  /** The agent's state (VM directories); created by the agent. */
  stateDir: string;
  /** Log and pidfile of a supervised (non-systemd) agent. */
  runDir: string;
  /** Read to check the OS; overridable so a test can present another system. */
  osRelease: string;
  /** The systemd unit written when systemd runs on the host. */
  systemdUnit: string;
}

export const DEFAULT_DEPLOY_PATHS: DeployPaths = {
  installDir: '/opt/vireo-agent',
  configDir: '/etc/vireo-agent',
  stateDir: '/var/lib/vireo-agent',
  runDir: '/var/log/vireo-agent',
  osRelease: '/etc/os-release',
  systemdUnit: '/etc/systemd/system/vireo-agent.service',
};

/** Files derived from {@link DeployPaths}. */
export function agentFiles(paths: DeployPaths, entry: string) {
  return {
    entry: posix.join(paths.installDir, entry),
    config: posix.join(paths.configDir, 'agent.json'),
    joinToken: posix.join(paths.configDir, 'join-token'),
    tlsDir: posix.join(paths.configDir, 'tls'),
    ca: posix.join(paths.configDir, 'tls', 'ca.pem'),
    cert: posix.join(paths.configDir, 'tls', 'agent.pem'),
    key: posix.join(paths.configDir, 'tls', 'agent-key.pem'),
    supervisor: posix.join(paths.installDir, 'run-agent.sh'),
    /** The template seal appliance (ADR 030), the agent's `seal_dir`. */
    sealDir: posix.join(paths.installDir, 'seal-appliance'),
    pidfile: posix.join(paths.runDir, 'vireo-agent.pid'),
    log: posix.join(paths.runDir, 'vireo-agent.log'),
  };
}

export type AgentFiles = ReturnType<typeof agentFiles>;

/** The Node flags the agent's bundle asks for in its shebang (small heap, no optimizing JIT). */
export const NODE_FLAGS = '--max-semi-space-size=1 --no-opt --no-sparkplug';

/** A systemd unit: restart on failure, but not on a configuration error (exit 2), which a restart cannot fix. */
export function systemdUnit(files: AgentFiles, node: string): string {
  return [
    '[Unit]',
    'Description=Vireo host agent',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    `ExecStart=${node} ${NODE_FLAGS} ${files.entry} serve --config ${files.config}`,
    'Restart=on-failure',
    'RestartSec=2',
    'RestartPreventExitStatus=2',
    // QEMU children must survive an agent restart: the agent reattaches to them.
    'KillMode=process',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * A minimal supervisor for hosts without systemd: it records its PID (it is also the process-group
 * leader, started with setsid), restarts the agent when it dies, gives up on exit status 2
 * (configuration error), and on TERM stops the agent and removes the pidfile.
 */
export function supervisorScript(files: AgentFiles, node: string): string {
  return `#!/bin/sh
# Written by the Vireo engine's SSH deploy.
echo $$ > ${sh(files.pidfile)}
child=
trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; rm -f ${sh(files.pidfile)}; exit 0' TERM INT
while :; do
  ${sh(node)} ${NODE_FLAGS} ${sh(files.entry)} serve --config ${sh(files.config)} >> ${sh(files.log)} 2>&1 &
  child=$!
  wait "$child"
  rc=$?
  child=
  if [ "$rc" -eq 2 ]; then rm -f ${sh(files.pidfile)}; exit 2; fi
  # In the background so TERM is handled at once, not after the pause.
  sleep 2 & wait $!
done
`;
}
