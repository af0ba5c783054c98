import { parseArgs } from 'node:util';
import type { RawSettings } from '../config';

/** A mistake in how the command was called (exit status 2, with the usage text). */
export class UsageError extends Error {
  readonly code = 'usage_error';
}

const SETTING_OPTIONS = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
  'database-url': { type: 'string' },
  organization: { type: 'string' },
  'server-names': { type: 'string' },
  'insecure-http': { type: 'boolean' },
  'log-level': { type: 'string' },
  'token-lifetime': { type: 'string' },
  'disks-encrypt-by-default': { type: 'string' },
} as const;

const COMMAND_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  'answer-file': { type: 'string' },
  'non-interactive': { type: 'boolean' },
  'reset-admin-password': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export interface ParsedFlags {
  settings: RawSettings;
  help: boolean;
  answerFile?: string;
  nonInteractive: boolean;
  resetAdminPassword: boolean;
  json: boolean;
  positionals: string[];
}

export function parseFlags(argv: string[]): ParsedFlags {
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof SETTING_OPTIONS & typeof COMMAND_OPTIONS; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...SETTING_OPTIONS, ...COMMAND_OPTIONS },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  const settings: RawSettings = {};
  if (v['data-dir'] !== undefined) settings.dataDir = v['data-dir'];
  if (v.listen !== undefined) settings.listen = v.listen;
  if (v['database-url'] !== undefined) settings.databaseUrl = v['database-url'];
  if (v.organization !== undefined) settings.organization = v.organization;
  if (v['server-names'] !== undefined) settings.serverNames = v['server-names'];
  if (v['insecure-http'] !== undefined) settings.insecureHttp = String(v['insecure-http']);
  if (v['log-level'] !== undefined) settings.logLevel = v['log-level'];
  if (v['token-lifetime'] !== undefined) settings.tokenLifetime = v['token-lifetime'];
  if (v['disks-encrypt-by-default'] !== undefined) settings.encryptByDefault = v['disks-encrypt-by-default'];
  return {
    settings,
    help: v.help === true,
    ...(v['answer-file'] !== undefined ? { answerFile: v['answer-file'] } : {}),
    nonInteractive: v['non-interactive'] === true,
    resetAdminPassword: v['reset-admin-password'] === true,
    json: v.json === true,
    positionals: parsed.positionals,
  };
}

export const USAGE = `Usage: vireo-engine <command> [options]

Commands:
  start          Run the engine (runs setup non-interactively first if this data directory is new)
  setup          Set up or reconfigure the engine (asks questions; --answer-file FILE to replay answers)
  config show    Print the effective configuration and where each value came from (no secrets)
  pki status     Show the engine CA, HTTPS, agent-client and host certificates: validity, names, fingerprints
  keys rotate    Re-wrap every disk key under a new disk master key (engine stopped; --json)
  version        Print the engine version

Settings (flags > VIREO_* environment > <data>/engine.conf > defaults):
  --data-dir DIR          VIREO_DATA_DIR       default ~/.local/share/vireo, or /var/lib/vireo as root
  --listen HOST:PORT      VIREO_LISTEN         default 0.0.0.0:8443 (port 0: any free port)
  --database-url URL      VIREO_DATABASE_URL   default: embedded PostgreSQL in <data>/postgresql
                                               (a password is refused on the command line)
  --organization NAME     VIREO_ORGANIZATION   organization name in the engine CA, default Vireo
  --server-names A,B      VIREO_SERVER_NAMES   extra DNS names/IPs for the HTTPS certificate
  --insecure-http         VIREO_INSECURE_HTTP  serve plain HTTP (never on an untrusted network)
  --log-level LEVEL       VIREO_LOG_LEVEL      fatal|error|warn|info|debug|trace|silent, default info
  --token-lifetime DUR    VIREO_TOKEN_LIFETIME login token lifetime (5m..30d), default 12h

Setup:
  --answer-file FILE      take answers from FILE (key=value lines) instead of asking
  --non-interactive       ask nothing: use flags, environment and defaults
  --reset-admin-password  set admin@internal's password again (VIREO_ADMIN_PASSWORD, or generated)
  VIREO_ADMIN_PASSWORD    admin@internal's password on first setup (generated and printed once if unset)

config show, pki status, keys rotate:
  --json                  machine-readable output
`;
