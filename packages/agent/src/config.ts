import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { PortRange } from './vm/ports';

export type AccelSetting = 'auto' | 'kvm' | 'tcg';

/** The agent's validated configuration. */
export interface AgentConfig {
  /** Where VM state directories, the agent id and the dev TLS files live. */
  stateDir: string;
  listen: { host: string; port: number };
  /** PEM file paths: the CA whose client certificates are accepted, and the agent's own pair. */
  tls: { ca: string; cert: string; key: string };
  accel: AccelSetting;
  qemuBinary: string;
  /** Directories images may live in (disks, ISOs, kernels). */
  imageDirs: string[];
  allowBlockDevices: boolean;
  /** VNC ports (display = port − 5900) and their WebSocket ports, all on 127.0.0.1. */
  vncPorts: PortRange;
  vncWebsocketPorts: PortRange;
  /** Empty PCIe root ports per q35 VM, for disk hot-plug. */
  hotplugPorts: number;
  /** QEMU's seccomp sandbox. */
  sandbox: boolean;
  /** Default `vm.shutdown` timeout when the caller gives none. */
  shutdownTimeoutS: number;
  /** Directory with the template seal appliance (`vmlinuz`, `seal-appliance.initrd`; ADR 030). */
  sealDir?: string;
  /** How often `vm.stats` / `host.stats` are sampled while an engine listens. */
  statsIntervalS: number;
  logLevel: string;
}

/** Flags as parsed from the command line (all optional, strings as typed). */
export interface ConfigFlags {
  config?: string;
  'state-dir'?: string;
  listen?: string;
  ca?: string;
  cert?: string;
  key?: string;
  accel?: string;
  qemu?: string;
  'image-dir'?: string[];
  'stats-interval'?: string;
  'log-level'?: string;
}

/** A configuration mistake a person must fix; the CLI prints the message and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const DEFAULT_PORT = 54321;

export function defaultStateDir(): string {
  return process.getuid?.() === 0
    ? '/var/lib/vireo-agent'
    : join(homedir(), '.local', 'share', 'vireo-agent');
}

/** Keys of the JSON config file (snake_case like the rest of the wire). */
interface FileConfig {
  state_dir?: string;
  listen?: string;
  ca?: string;
  cert?: string;
  key?: string;
  accel?: string;
  qemu_binary?: string;
  image_dirs?: string[];
  allow_block_devices?: boolean;
  vnc_ports?: string;
  vnc_websocket_ports?: string;
  hotplug_ports?: number;
  sandbox?: boolean;
  shutdown_timeout_s?: number;
  seal_dir?: string;
  stats_interval_s?: number;
  log_level?: string;
}

const FILE_KEYS = new Set<keyof FileConfig>([
  'state_dir',
  'listen',
  'ca',
  'cert',
  'key',
  'accel',
  'qemu_binary',
  'image_dirs',
  'allow_block_devices',
  'vnc_ports',
  'vnc_websocket_ports',
  'hotplug_ports',
  'sandbox',
  'shutdown_timeout_s',
  'seal_dir',
  'stats_interval_s',
  'log_level',
]);

/**
 * Builds the configuration: defaults < config file (`--config`, `VIREO_AGENT_CONFIG`) < environment
 * (`VIREO_AGENT_*`) < flags. Every value is validated; a bad one is a `ConfigError` naming its source.
 */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const file = readConfigFile(flags.config ?? env.VIREO_AGENT_CONFIG);
  const pick = <T>(flag: T | undefined, envValue: T | undefined, fileValue: T | undefined): T | undefined =>
    flag ?? envValue ?? fileValue;

  const stateDir = absolute(
    pick(flags['state-dir'], env.VIREO_AGENT_STATE_DIR, file.state_dir) ?? defaultStateDir(),
    'state dir',
  );
  const tlsDir = join(stateDir, 'tls');
  const listen = parseListen(
    pick(flags.listen, env.VIREO_AGENT_LISTEN, file.listen) ?? `127.0.0.1:${DEFAULT_PORT}`,
  );
  const accel = pick(flags.accel, env.VIREO_AGENT_ACCEL, file.accel) ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') {
    throw new ConfigError(`accel must be auto, kvm or tcg (got "${accel}")`);
  }
  const imageDirs =
    flags['image-dir'] && flags['image-dir'].length > 0
      ? flags['image-dir']
      : env.VIREO_AGENT_IMAGE_DIRS
        ? env.VIREO_AGENT_IMAGE_DIRS.split(':').filter(Boolean)
        : (file.image_dirs ?? [join(stateDir, 'images')]);

  const config: AgentConfig = {
    stateDir,
    listen,
    tls: {
      ca: absolute(pick(flags.ca, env.VIREO_AGENT_CA, file.ca) ?? join(tlsDir, 'ca.pem'), 'ca'),
      cert: absolute(pick(flags.cert, env.VIREO_AGENT_CERT, file.cert) ?? join(tlsDir, 'agent.pem'), 'cert'),
      key: absolute(pick(flags.key, env.VIREO_AGENT_KEY, file.key) ?? join(tlsDir, 'agent-key.pem'), 'key'),
    },
    accel,
    qemuBinary: pick(flags.qemu, env.VIREO_AGENT_QEMU, file.qemu_binary) ?? 'qemu-system-x86_64',
    imageDirs: imageDirs.map((d) => absolute(d, 'image dir')),
    allowBlockDevices: bool(env.VIREO_AGENT_ALLOW_BLOCK_DEVICES, file.allow_block_devices, false),
    vncPorts: parseRange(env.VIREO_AGENT_VNC_PORTS ?? file.vnc_ports ?? '5900-6899', 'vnc ports'),
    vncWebsocketPorts: parseRange(
      env.VIREO_AGENT_VNC_WEBSOCKET_PORTS ?? file.vnc_websocket_ports ?? '6900-7899',
      'vnc websocket ports',
    ),
    hotplugPorts: int(env.VIREO_AGENT_HOTPLUG_PORTS ?? file.hotplug_ports, 4, 0, 8, 'hotplug ports'),
    sandbox: bool(env.VIREO_AGENT_SANDBOX, file.sandbox, true),
    shutdownTimeoutS: int(
      env.VIREO_AGENT_SHUTDOWN_TIMEOUT_S ?? file.shutdown_timeout_s,
      60,
      0,
      3600,
      'shutdown timeout',
    ),
    statsIntervalS: int(
      flags['stats-interval'] ?? env.VIREO_AGENT_STATS_INTERVAL_S ?? file.stats_interval_s,
      15,
      1,
      3600,
      'stats interval',
    ),
    logLevel: pick(flags['log-level'], env.VIREO_AGENT_LOG_LEVEL, file.log_level) ?? 'info',
  };
  const sealDir = env.VIREO_AGENT_SEAL_DIR ?? file.seal_dir;
  if (sealDir) config.sealDir = absolute(sealDir, 'seal dir');
  if (config.vncPorts.min < 5900)
    throw new ConfigError('vnc ports must start at 5900 or above (display = port - 5900)');
  return config;
}

function readConfigFile(path: string | undefined): FileConfig {
  if (!path) return {};
  if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  for (const key of Object.keys(value)) {
    if (!FILE_KEYS.has(key as keyof FileConfig))
      throw new ConfigError(`config file ${path}: unknown key "${key}"`);
  }
  return value as FileConfig;
}

function absolute(path: string, what: string): string {
  if (typeof path !== 'string' || path === '') throw new ConfigError(`${what} must be a path`);
  return isAbsolute(path) ? path : resolve(path);
}

/** `HOST:PORT` (IPv4 or name; `[v6]:PORT`). Port 0 lets the system choose (tests). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new ConfigError(`listen must be HOST:PORT (got "${text}")`);
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

function parseRange(text: string, what: string): PortRange {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  const min = Number(match?.[1]);
  const max = Number(match?.[2]);
  if (!match || min < 1 || max > 65535 || min > max)
    throw new ConfigError(`${what} must be MIN-MAX (got "${text}")`);
  return { min, max };
}

function int(
  value: string | number | undefined,
  fallback: number,
  min: number,
  max: number,
  what: string,
): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${what} must be an integer from ${min} to ${max} (got "${value}")`);
  }
  return n;
}

function bool(envValue: string | undefined, fileValue: boolean | undefined, fallback: boolean): boolean {
  if (envValue !== undefined && envValue !== '') {
    if (envValue === '1' || envValue === 'true') return true;
    if (envValue === '0' || envValue === 'false') return false;
    throw new ConfigError(`boolean settings take true/false/1/0 (got "${envValue}")`);
  }
  return fileValue ?? fallback;
}
