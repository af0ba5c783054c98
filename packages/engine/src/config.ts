import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * The engine's configuration: one validated object built from, in order of precedence,
 * command-line flags > `VIREO_*` environment variables > `<data>/engine.conf` > defaults.
 * The data directory itself cannot come from the file (the file lives inside it).
 * See docs/configuration.md and docs/adr/006-engine-config-and-setup.md.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CONFIG_FILE_NAME = 'engine.conf';
export const ANSWERS_FILE_NAME = 'setup-answers.conf';
export const CONFIG_FORMAT = 1;

const MIN_TOKEN_LIFETIME_MS = 5 * 60_000;
const MAX_TOKEN_LIFETIME_MS = 30 * 86_400_000;

/** `<data>/engine.conf`: JSON, written by setup, never holding a secret. */
export const ConfigFileSchema = Type.Object(
  {
    format: Type.Literal(CONFIG_FORMAT),
    listen: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    database_url: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 2000 }), Type.Null()])),
    organization: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    server_names: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 64 })),
    insecure_http: Type.Optional(Type.Boolean()),
    log_level: Type.Optional(Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)))),
    token_lifetime: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    /** New qcow2 disks are LUKS-encrypted unless a request says `encrypted: false` (default true). */
    'disks.encrypt_by_default': Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof ConfigFileSchema>;

/** Where each setting came from, for `config show` and for error messages a person can act on. */
export type SettingSource = 'flag' | 'env' | 'file' | 'answer-file' | 'prompt' | 'default';

/** The settings as text, before validation; every layer (flags, env, file) produces one. */
export interface RawSettings {
  dataDir?: string;
  listen?: string;
  databaseUrl?: string | null;
  organization?: string;
  serverNames?: string;
  insecureHttp?: string;
  logLevel?: string;
  tokenLifetime?: string;
  encryptByDefault?: string;
}
export type SettingKey = keyof RawSettings;

export interface ListenAddress {
  host: string;
  port: number;
}

export type DatabaseSetting = { kind: 'embedded' } | { kind: 'external'; url: string };

/** The validated configuration every part of the engine reads. */
export interface EngineConfig {
  dataDir: string;
  listen: ListenAddress;
  database: DatabaseSetting;
  organization: string;
  /** Extra names (DNS or IP) the server certificate must cover, beyond hostname and loopback. */
  serverNames: string[];
  insecureHttp: boolean;
  logLevel: LogLevel;
  tokenLifetimeMs: number;
  /** `disks.encrypt_by_default`: a qcow2 disk created without `encrypted` is encrypted (ADR 029). */
  encryptByDefault: boolean;
  paths: DataDirLayout;
  /** Where each setting came from. */
  sources: Record<SettingKey, SettingSource>;
}

/** Every file the engine keeps in its data directory (docs/install.md shows the tree). */
export interface DataDirLayout {
  root: string;
  configFile: string;
  answersFile: string;
  pkiDir: string;
  caCert: string;
  serverCert: string;
  secretsDir: string;
  caKey: string;
  serverKey: string;
  /** Password of the embedded PostgreSQL superuser. */
  postgresPassword: string;
  /** Password for an external database when its URL is given without one. */
  databasePassword: string;
  postgresDir: string;
  logDir: string;
  postgresLog: string;
}

export function dataDirLayout(root: string): DataDirLayout {
  const secrets = path.join(root, 'secrets');
  const pki = path.join(root, 'pki');
  return {
    root,
    configFile: path.join(root, CONFIG_FILE_NAME),
    answersFile: path.join(root, ANSWERS_FILE_NAME),
    pkiDir: pki,
    caCert: path.join(pki, 'ca.pem'),
    serverCert: path.join(pki, 'engine.pem'),
    secretsDir: secrets,
    caKey: path.join(secrets, 'ca.key'),
    serverKey: path.join(secrets, 'engine.key'),
    postgresPassword: path.join(secrets, 'postgresql.password'),
    databasePassword: path.join(secrets, 'database.password'),
    postgresDir: path.join(root, 'postgresql'),
    logDir: path.join(root, 'log'),
    postgresLog: path.join(root, 'log', 'postgresql.log'),
  };
}

/** A configuration problem; the message names the setting and where its bad value came from. */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
}

export const ENV_NAMES: Record<SettingKey, string> = {
  dataDir: 'VIREO_DATA_DIR',
  listen: 'VIREO_LISTEN',
  databaseUrl: 'VIREO_DATABASE_URL',
  organization: 'VIREO_ORGANIZATION',
  serverNames: 'VIREO_SERVER_NAMES',
  insecureHttp: 'VIREO_INSECURE_HTTP',
  logLevel: 'VIREO_LOG_LEVEL',
  tokenLifetime: 'VIREO_TOKEN_LIFETIME',
  encryptByDefault: 'VIREO_DISKS_ENCRYPT_BY_DEFAULT',
};

export const FLAG_NAMES: Record<SettingKey, string> = {
  dataDir: '--data-dir',
  listen: '--listen',
  databaseUrl: '--database-url',
  organization: '--organization',
  serverNames: '--server-names',
  insecureHttp: '--insecure-http',
  logLevel: '--log-level',
  tokenLifetime: '--token-lifetime',
  encryptByDefault: '--disks-encrypt-by-default',
};

/** The file keys, which are also the answer-file keys (plus `data_dir` and `admin_password`). */
export const FILE_KEYS: Record<Exclude<SettingKey, 'dataDir'>, keyof ConfigFile> = {
  listen: 'listen',
  databaseUrl: 'database_url',
  organization: 'organization',
  serverNames: 'server_names',
  insecureHttp: 'insecure_http',
  logLevel: 'log_level',
  tokenLifetime: 'token_lifetime',
  encryptByDefault: 'disks.encrypt_by_default',
};

export const DEFAULTS = {
  listen: '0.0.0.0:8443',
  organization: 'Vireo',
  insecureHttp: 'false',
  logLevel: 'info',
  tokenLifetime: '12h',
  // Encrypted by default since session 4 (ADR 029): starts cost ≈ 1.2× (boot from the disk), and
  // copy, move, snapshots, templates, hot-plug and export all handle encrypted disks.
  encryptByDefault: 'true',
} as const;

/**
 * Default data directory. As root it is /var/lib/vireo: the embedded PostgreSQL runs as its own
 * account, which cannot traverse /root (ADR 001).
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  isRoot = process.getuid?.() === 0,
): string {
  if (isRoot) return '/var/lib/vireo';
  const base = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : undefined;
  return path.join(base ?? path.join(os.homedir(), '.local', 'share'), 'vireo');
}

/** Reads the settings given by `VIREO_*` variables; empty values count as unset. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const [key, name] of Object.entries(ENV_NAMES) as [SettingKey, string][]) {
    const v = env[name];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

/** Reads and validates `<data>/engine.conf`; undefined when the file does not exist. */
export function readConfigFile(file: string): RawSettings | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${file}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Value.Check(ConfigFileSchema, parsed)) {
    const problems = [...Value.Errors(ConfigFileSchema, parsed)]
      .slice(0, 5)
      .map((e) => `${e.path || '/'}: ${e.message}`);
    throw new ConfigError(`${file} is invalid: ${problems.join('; ')}`);
  }
  return settingsFromFile(parsed);
}

export function settingsFromFile(f: ConfigFile): RawSettings {
  const out: RawSettings = {};
  if (f.listen !== undefined) out.listen = f.listen;
  if (f.database_url !== undefined) out.databaseUrl = f.database_url;
  if (f.organization !== undefined) out.organization = f.organization;
  if (f.server_names !== undefined) out.serverNames = f.server_names.join(',');
  if (f.insecure_http !== undefined) out.insecureHttp = String(f.insecure_http);
  if (f.log_level !== undefined) out.logLevel = f.log_level;
  if (f.token_lifetime !== undefined) out.tokenLifetime = f.token_lifetime;
  if (f['disks.encrypt_by_default'] !== undefined)
    out.encryptByDefault = String(f['disks.encrypt_by_default']);
  return out;
}

/** The file form of a validated configuration (what setup writes). */
export function toConfigFile(c: EngineConfig): ConfigFile {
  return {
    format: CONFIG_FORMAT,
    listen: formatListen(c.listen),
    database_url: c.database.kind === 'external' ? stripPassword(c.database.url) : null,
    organization: c.organization,
    server_names: c.serverNames,
    insecure_http: c.insecureHttp,
    log_level: c.logLevel,
    token_lifetime: formatDuration(c.tokenLifetimeMs),
  };
}

/** One layer of settings and the name it is reported under. */
export interface SettingsLayer {
  source: SettingSource;
  settings: RawSettings;
}

/**
 * Merges layers (highest precedence first), applies defaults and validates every setting.
 * Throws ConfigError listing every problem at once, each with its source.
 */
export function resolveConfig(
  layers: SettingsLayer[],
  opts: { env?: NodeJS.ProcessEnv; isRoot?: boolean; readSecret?: (file: string) => string | undefined } = {},
): EngineConfig {
  const pick = (key: SettingKey): { value: string | null | undefined; source: SettingSource } => {
    for (const l of layers) {
      const v = l.settings[key];
      if (v !== undefined) return { value: v, source: l.source };
    }
    return { value: undefined, source: 'default' };
  };
  const problems: string[] = [];
  const sources = {} as Record<SettingKey, SettingSource>;
  const get = <T>(key: SettingKey, fallback: string | undefined, parse: (v: string) => T): T | undefined => {
    const { value, source } = pick(key);
    sources[key] = source;
    const raw = value ?? fallback;
    if (raw === undefined || raw === null) return undefined;
    try {
      return parse(raw);
    } catch (err) {
      problems.push(`${describeSetting(key, source)}: ${(err as Error).message}`);
      return undefined;
    }
  };

  const dataDir = get('dataDir', defaultDataDir(opts.env, opts.isRoot), parseDataDir);
  const listen = get('listen', DEFAULTS.listen, parseListen);
  const databaseUrl = get('databaseUrl', undefined, (v) => parseDatabaseUrl(v, sources.databaseUrl));
  const organization = get('organization', DEFAULTS.organization, parseOrganization);
  const serverNames = get('serverNames', '', parseServerNames);
  const insecureHttp = get('insecureHttp', DEFAULTS.insecureHttp, parseBoolean);
  const logLevel = get('logLevel', DEFAULTS.logLevel, parseLogLevel);
  const tokenLifetimeMs = get('tokenLifetime', DEFAULTS.tokenLifetime, parseTokenLifetime);
  const encryptByDefault = get('encryptByDefault', DEFAULTS.encryptByDefault, parseBoolean);
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const paths = dataDirLayout(dataDir!);
  let database: DatabaseSetting = { kind: 'embedded' };
  if (databaseUrl) {
    database = {
      kind: 'external',
      url: withPasswordFrom(databaseUrl, paths.databasePassword, opts.readSecret),
    };
  }
  return {
    dataDir: dataDir!,
    listen: listen!,
    database,
    organization: organization!,
    serverNames: serverNames!,
    insecureHttp: insecureHttp!,
    logLevel: logLevel!,
    tokenLifetimeMs: tokenLifetimeMs!,
    encryptByDefault: encryptByDefault!,
    paths,
    sources,
  };
}

export function describeSetting(key: SettingKey, source: SettingSource): string {
  switch (source) {
    case 'flag':
      return `${FLAG_NAMES[key]} (command line)`;
    case 'env':
      return `${ENV_NAMES[key]} (environment)`;
    case 'file':
      return key === 'dataDir' ? 'data_dir (engine.conf)' : `${FILE_KEYS[key]} (engine.conf)`;
    case 'answer-file':
      return key === 'dataDir' ? 'data_dir (answer file)' : `${FILE_KEYS[key]} (answer file)`;
    case 'prompt':
      return `${key} (answer)`;
    default:
      return `${key} (default)`;
  }
}

function parseDataDir(v: string): string {
  if (/[\0\n\r]/.test(v)) throw new Error('must not contain control characters');
  return path.resolve(v);
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all addresses). Port 0 asks the OS for a free port. */
export function parseListen(v: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(v.trim());
  if (!m) throw new Error(`"${v}" is not HOST:PORT (e.g. 0.0.0.0:8443 or [::1]:8443)`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range (0-65535)`);
  if (m[1] !== undefined && isIP(host) !== 6) throw new Error(`"${host}" is not an IPv6 address`);
  if (m[2] && !isIP(host) && !DNS_NAME_RE.test(host)) throw new Error(`"${host}" is not a host name or IP`);
  return { host, port };
}

export function formatListen(l: ListenAddress): string {
  return isIP(l.host) === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

function parseDatabaseUrl(v: string, source: SettingSource): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error('is not a URL (expected postgresql://USER@HOST:PORT/DATABASE)');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new Error(`scheme "${url.protocol}" is not postgresql:`);
  }
  if (url.password && source === 'flag') {
    // A command line is visible to every user of the machine (ps, /proc): refuse rather than leak.
    throw new Error(
      'must not carry a password on the command line; use VIREO_DATABASE_URL or the answer file',
    );
  }
  if (url.password && source === 'file') {
    throw new Error('must not carry a password in engine.conf; put it in secrets/database.password');
  }
  return v;
}

const DNS_NAME_RE =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function parseServerNames(v: string): string[] {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!isIP(n) && !DNS_NAME_RE.test(n)) throw new Error(`"${n}" is neither a DNS name nor an IP address`);
  }
  if (names.length > 64) throw new Error('at most 64 names');
  return [...new Set(names)];
}

function parseOrganization(v: string): string {
  const s = v.trim();
  if (s.length < 1 || s.length > 64) throw new Error('must be 1 to 64 characters');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new Error('must not contain control characters');
  return s;
}

export function parseBoolean(v: string): boolean {
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  throw new Error(`"${v}" is not a boolean (true/false, 1/0, yes/no)`);
}

function parseLogLevel(v: string): LogLevel {
  const s = v.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(s))
    throw new Error(`"${v}" is not one of ${LOG_LEVELS.join(', ')}`);
  return s as LogLevel;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `12h`, `7d`, or a bare number of seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(v.trim());
  if (!m) throw new Error(`"${v}" is not a duration (e.g. 30m, 12h, 7d)`);
  return Number(m[1]) * (UNIT_MS[m[2] || 's'] ?? 1000);
}

export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

function parseTokenLifetime(v: string): number {
  const ms = parseDuration(v);
  if (ms < MIN_TOKEN_LIFETIME_MS || ms > MAX_TOKEN_LIFETIME_MS) throw new Error('must be between 5m and 30d');
  return ms;
}

/** The URL with its password replaced, for display and for engine.conf. */
export function stripPassword(url: string, replacement = ''): string {
  const u = new URL(url);
  if (!u.password) return url;
  u.password = replacement;
  return u.toString();
}

/** Returns the URL with its password filled from the secrets file when it has none. */
function withPasswordFrom(url: string, file: string, readSecret = readSecretFile): string {
  const u = new URL(url);
  if (u.password) return url;
  const secret = readSecret(file);
  if (secret === undefined) return url;
  u.password = encodeURIComponent(secret);
  return u.toString();
}

export function readSecretFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read secret file ${file}`, { cause: err });
  }
}

/** What `config show` prints: every setting with its source, secrets masked. */
export function describeConfig(c: EngineConfig): Record<string, { value: unknown; source: SettingSource }> {
  return {
    data_dir: { value: c.dataDir, source: c.sources.dataDir },
    listen: { value: formatListen(c.listen), source: c.sources.listen },
    database_url: {
      value: c.database.kind === 'external' ? stripPassword(c.database.url, '***') : 'embedded',
      source: c.sources.databaseUrl,
    },
    organization: { value: c.organization, source: c.sources.organization },
    server_names: { value: c.serverNames, source: c.sources.serverNames },
    insecure_http: { value: c.insecureHttp, source: c.sources.insecureHttp },
    log_level: { value: c.logLevel, source: c.sources.logLevel },
    token_lifetime: { value: formatDuration(c.tokenLifetimeMs), source: c.sources.tokenLifetime },
    'disks.encrypt_by_default': { value: c.encryptByDefault, source: c.sources.encryptByDefault },
  };
}
