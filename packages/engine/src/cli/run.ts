import https from 'node:https';
import http from 'node:http';
import type { Logger } from 'pino';
import { ConfigError, type EngineConfig, describeConfig } from '../config';
import { SchemaTooNewError } from '../db/migrate';
import { pkiStatus } from '../pki/status';
import { acquirePidFile } from '../setup/pid-file';
import { type ParsedFlags, USAGE, UsageError, parseFlags } from './flags';
import { keysRotateCommand } from './keys-command';
import { createLogger, loadConfig } from './load';
import { SetupCancelled, needsSetup, setupCommand } from './setup-command';
import { ENGINE_VERSION } from './version';

export interface RunningEngineLike {
  url: string;
  stop(reason: string): Promise<void>;
  failed: Promise<number>;
}

export interface CliDeps {
  runEngine(config: EngineConfig, log: Logger, version: string): Promise<RunningEngineLike>;
  env?: NodeJS.ProcessEnv;
  say?: (line: string) => void;
}

/** Runs one `vireo-engine` command; resolves with the process exit status. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  const env = deps.env ?? process.env;
  const say = deps.say ?? ((line: string) => process.stdout.write(`${line}\n`));
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      say(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === 'version' || command === '--version') {
      say(`vireo-engine ${ENGINE_VERSION}`);
      return 0;
    }
    if (command === 'pki') {
      const flags = parseFlags(rest);
      if (flags.positionals[0] !== 'status' || flags.positionals.length !== 1) {
        throw new UsageError('expected: vireo-engine pki status [--json]');
      }
      return pkiStatusCommand(flags, env, say);
    }
    if (command === 'keys') {
      const flags = parseFlags(rest);
      if (flags.positionals[0] !== 'rotate' || flags.positionals.length !== 1) {
        throw new UsageError('expected: vireo-engine keys rotate [--json]');
      }
      return await keysRotateCommand(flags, env, say);
    }
    if (command === 'config') {
      const flags = parseFlags(rest);
      if (flags.positionals[0] !== 'show' || flags.positionals.length !== 1) {
        throw new UsageError('expected: vireo-engine config show [--json]');
      }
      return configShow(flags, env, say);
    }
    const flags = parseFlags(rest);
    if (flags.help) {
      say(USAGE);
      return 0;
    }
    if (flags.positionals.length > 0) throw new UsageError(`unexpected argument "${flags.positionals[0]}"`);
    if (command === 'setup') {
      await setupCommand(flags, { env, say, interactive: true });
      return 0;
    }
    if (command === 'start') return await startCommand(flags, deps, env, say);
    throw new UsageError(`unknown command "${command}"`);
  } catch (err) {
    return reportError(err);
  }
}

function configShow(flags: ParsedFlags, env: NodeJS.ProcessEnv, say: (l: string) => void): number {
  const { config, configured } = loadConfig(flags.settings, env);
  const shown = describeConfig(config);
  if (flags.json) {
    say(JSON.stringify({ configured, settings: shown }, null, 2));
    return 0;
  }
  if (!configured) say(`# ${config.paths.configFile} does not exist yet: showing defaults and overrides`);
  for (const [key, { value, source }] of Object.entries(shown)) {
    const v = Array.isArray(value) ? value.join(',') || '-' : String(value);
    say(`${key.padEnd(16)}${v.padEnd(48)} (${source})`);
  }
  return 0;
}

function pkiStatusCommand(flags: ParsedFlags, env: NodeJS.ProcessEnv, say: (l: string) => void): number {
  const { config, configured } = loadConfig(flags.settings, env);
  if (!configured) throw new ConfigError(`${config.dataDir} is not set up yet (run vireo-engine setup)`);
  const status = pkiStatus(config.paths);
  if (flags.json) {
    say(JSON.stringify(status, null, 2));
  } else {
    for (const [label, s] of [
      ['engine CA', status.ca],
      ['HTTPS certificate', status.server],
      ['agent client certificate', status.agentClient],
      ...status.hosts.map((h) => [`host ${h.hostId}`, h] as const),
    ] as const) {
      say(
        `${label}: ${s.state}${s.state === 'missing' ? '' : `, ${s.daysLeft} days left (until ${s.notAfter})`}`,
      );
      if (s.state === 'missing') continue;
      say(`  file         ${s.file}`);
      say(`  subject      ${s.subject}`);
      say(`  sha256       ${s.fingerprintSha256}`);
      if (s.altNames.length) say(`  names        ${s.altNames.join(', ')}`);
    }
  }
  return status.ca.state === 'ok' ? 0 : 1;
}

async function startCommand(
  flags: ParsedFlags,
  deps: CliDeps,
  env: NodeJS.ProcessEnv,
  say: (l: string) => void,
): Promise<number> {
  if (flags.answerFile || flags.resetAdminPassword) {
    throw new UsageError('--answer-file and --reset-admin-password belong to "vireo-engine setup"');
  }
  // Signals are caught from the start, so a Ctrl-C during start-up still stops PostgreSQL.
  let signalled: (s: NodeJS.Signals) => void = () => {};
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  let count = 0;
  const onSignal = (s: NodeJS.Signals) => {
    count++;
    if (count === 1) signalled(s);
    else if (count >= 3) process.exit(130);
    else process.stderr.write('vireo-engine: already stopping; send the signal again to exit at once\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (needsSetup(flags, env)) {
      say('No engine set up in this data directory yet: running setup (non-interactive).');
      await setupCommand(flags, { env, say, interactive: false });
    }
    const { config } = loadConfig(flags.settings, env);
    const log = createLogger(config.logLevel);
    const pidFile = acquirePidFile(config.dataDir);
    try {
      say(`Starting vireo-engine ${ENGINE_VERSION} (data directory ${config.dataDir})`);
      const starting = deps.runEngine(config, log, ENGINE_VERSION);
      const first = await Promise.race([
        starting.then((e) => ({ engine: e })),
        signal.then((s) => ({ signal: s })),
      ]);
      const engine = 'engine' in first ? first.engine : await starting;
      if ('signal' in first) {
        await engine.stop(`${first.signal} during start`);
        return 0;
      }
      await selfCheck(engine.url, config);
      say(`vireo-engine ${ENGINE_VERSION} ready at ${engine.url}`);
      const end = await Promise.race([
        signal.then((s) => ({ signal: s })),
        engine.failed.then((status) => ({ status })),
      ]);
      await engine.stop('signal' in end ? `received ${end.signal}` : 'a required component failed');
      return 'status' in end ? end.status : 0;
    } finally {
      pidFile.release();
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `ready at` is printed only once the engine answers over its real socket, with the TLS
 * certificate checked against the engine CA, exactly as a client would see it.
 */
async function selfCheck(url: string, config: EngineConfig): Promise<void> {
  const u = new URL('/api/v1/health', url);
  if (u.hostname === 'localhost') u.hostname = '127.0.0.1';
  const { readFileSync } = await import('node:fs');
  const ca = readFileSync(config.paths.caCert, 'utf8');
  const status = await new Promise<number>((resolve, reject) => {
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, { ca, timeout: 5000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  }).catch((err: Error) => {
    throw new Error(`the engine does not answer at ${u}: ${err.message}`, { cause: err });
  });
  if (status !== 200) throw new Error(`the engine answered ${status} at ${u}`);
}

/** Prints an error and its causes for a person (no stack unless VIREO_DEBUG); returns the exit status. */
function reportError(err: unknown): number {
  const usage = err instanceof UsageError || err instanceof ConfigError;
  const lines: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    lines.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  process.stderr.write(`vireo-engine: ${lines.join(': ')}\n`);
  if (err instanceof UsageError) process.stderr.write('Run "vireo-engine help" for usage.\n');
  if (process.env.VIREO_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  if (err instanceof SetupCancelled) return 1;
  if (err instanceof SchemaTooNewError) return 3;
  return usage ? 2 : 1;
}
