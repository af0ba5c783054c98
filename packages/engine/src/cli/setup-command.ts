import fs from 'node:fs';
import {
  DEFAULTS,
  type EngineConfig,
  type RawSettings,
  type SettingKey,
  type SettingsLayer,
  dataDirLayout,
  defaultDataDir,
  formatDuration,
  readConfigFile,
  resolveConfig,
  settingsFromEnv,
  stripPassword,
} from '../config';
import { type AdminPasswordChoice, checkPassword, runSetup } from '../setup/run-setup';
import { readAnswerFile } from '../setup/answers';
import type { ParsedFlags } from './flags';
import { chooseDataDir, createLogger } from './load';
import { Prompter } from './prompt';
import { ENGINE_VERSION } from './version';

export interface SetupCommandContext {
  env: NodeJS.ProcessEnv;
  /** Lines for the person running setup (stdout). */
  say: (line: string) => void;
  /** false: take flags, environment, answer file and defaults without asking anything. */
  interactive: boolean;
}

/** `vireo-engine setup`: asks (or reads) the answers, then runs setup; prints a generated password once. */
export async function setupCommand(flags: ParsedFlags, ctx: SetupCommandContext): Promise<EngineConfig> {
  const { env, say } = ctx;
  const layers: SettingsLayer[] = [
    { source: 'flag', settings: flags.settings },
    { source: 'env', settings: settingsFromEnv(env) },
  ];
  let answerPassword: string | undefined;
  if (flags.answerFile) {
    const answers = readAnswerFile(flags.answerFile, (m) => say(`warning: ${m}`));
    layers.push({ source: 'answer-file', settings: answers.settings });
    answerPassword = answers.adminPassword;
  }
  const interactive = ctx.interactive && !flags.answerFile && !flags.nonInteractive;
  const prompter = interactive ? new Prompter() : undefined;
  try {
    if (prompter) {
      say('Vireo engine setup. Press Enter to accept the value in [brackets].');
      const dataDir = await askSetting(prompter, layers, 'dataDir', 'Data directory', defaultDataDir(env));
      layers.push({ source: 'prompt', settings: { dataDir } });
    }
    const dataDir = chooseDataDir(layers, env);
    const existing = readConfigFile(dataDirLayout(dataDir).configFile);
    if (prompter) {
      const prompt: RawSettings = {};
      layers.push({ source: 'prompt', settings: prompt });
      const current = (k: SettingKey, d: string) => (existing?.[k] as string | undefined) ?? d;
      prompt.listen = await askSetting(
        prompter,
        layers,
        'listen',
        'Listen address (HOST:PORT)',
        current('listen', DEFAULTS.listen),
      );
      const db = await askSetting(
        prompter,
        layers,
        'databaseUrl',
        'Database: "embedded", or an external postgresql:// URL',
        existing?.databaseUrl ?? 'embedded',
      );
      prompt.databaseUrl = db === 'embedded' ? null : db;
      prompt.organization = await askSetting(
        prompter,
        layers,
        'organization',
        'Organization name for the engine CA',
        current('organization', DEFAULTS.organization),
      );
      prompt.serverNames = await askSetting(
        prompter,
        layers,
        'serverNames',
        'Extra DNS names or IPs for the HTTPS certificate (comma-separated)',
        current('serverNames', ''),
      );
    }
    if (existing) layers.push({ source: 'file', settings: existing });
    const config = resolveConfig(layers, { env });
    const firstSetup = existing === undefined;

    let adminPassword: AdminPasswordChoice | undefined;
    if (firstSetup || flags.resetAdminPassword) {
      if (env.VIREO_ADMIN_PASSWORD)
        adminPassword = { value: env.VIREO_ADMIN_PASSWORD, source: 'VIREO_ADMIN_PASSWORD' };
      else if (answerPassword !== undefined)
        adminPassword = { value: answerPassword, source: 'the answer file' };
      else if (prompter) adminPassword = await askPassword(prompter);
      if (adminPassword) checkPassword(adminPassword.value);
    }

    if (prompter) {
      say('');
      say('Summary:');
      say(`  data directory   ${config.dataDir}`);
      say(`  listen           ${flagsListen(config)}${config.insecureHttp ? ' (plain HTTP!)' : ' (HTTPS)'}`);
      say(
        `  database         ${config.database.kind === 'external' ? stripPassword(config.database.url, '***') : 'embedded'}`,
      );
      say(`  organization     ${config.organization}`);
      say(`  server names     ${config.serverNames.join(', ') || '(hostname and loopback only)'}`);
      say(`  token lifetime   ${formatDuration(config.tokenLifetimeMs)}`);
      const go = await prompter.ask('Proceed? (yes/no)', 'yes');
      if (!/^y(es)?$/i.test(go)) throw new SetupCancelled('setup cancelled; nothing was changed');
    }
    prompter?.close();

    const log = createLogger(config.logLevel);
    if (config.insecureHttp)
      say('WARNING: plain HTTP is configured: passwords and tokens cross the network in clear.');
    const result = await runSetup({
      config,
      ...(adminPassword ? { adminPassword } : {}),
      resetAdminPassword: flags.resetAdminPassword,
      version: ENGINE_VERSION,
      log,
      say,
    });
    if (result.generatedPassword) printGeneratedPassword(result.generatedPassword, say);
    say('Setup complete.');
    return config;
  } finally {
    prompter?.close();
  }
}

export class SetupCancelled extends Error {
  readonly code = 'setup_cancelled';
}

/** Printed to the terminal only, once; never to the log. */
export function printGeneratedPassword(password: string, say: (l: string) => void): void {
  const line = `  admin@internal password (generated, shown only this once): ${password}`;
  const bar = '='.repeat(line.length + 2);
  say(bar);
  say(line);
  say('  Keep it somewhere safe; `vireo-engine setup --reset-admin-password` sets a new one.');
  say(bar);
}

function flagsListen(c: EngineConfig): string {
  return c.listen.host.includes(':')
    ? `[${c.listen.host}]:${c.listen.port}`
    : `${c.listen.host}:${c.listen.port}`;
}

/** Asks for one setting unless a flag, the environment or the answer file already gave it. */
async function askSetting(
  prompter: Prompter,
  layers: SettingsLayer[],
  key: SettingKey,
  question: string,
  fallback: string,
): Promise<string> {
  const given = layers.find((l) => l.source !== 'prompt' && l.settings[key] !== undefined);
  if (given) return String(given.settings[key] ?? 'embedded');
  const { raw } = await prompter.askValid(question, fallback, (v) => {
    const value = key === 'databaseUrl' && v === 'embedded' ? null : v;
    // Validate this one answer exactly as the configuration would.
    resolveConfig([{ source: 'prompt', settings: { [key]: value } }]);
    return v;
  });
  return raw;
}

async function askPassword(prompter: Prompter): Promise<AdminPasswordChoice | undefined> {
  for (let i = 0; i < 3; i++) {
    const pw = await prompter.askSecret('Password for admin@internal (empty: generate one)');
    if (pw === '') return undefined;
    try {
      checkPassword(pw);
    } catch (err) {
      process.stdout.write(`  ${(err as Error).message}\n`);
      continue;
    }
    const again = await prompter.askSecret('Repeat the password');
    if (again === pw) return { value: pw, source: 'the prompt' };
    process.stdout.write('  the passwords differ; try again\n');
  }
  throw new Error('no acceptable admin password after 3 tries');
}

/** True when the data directory named by flags/env (or the default) has not been set up yet. */
export function needsSetup(flags: ParsedFlags, env: NodeJS.ProcessEnv): boolean {
  const dataDir = chooseDataDir(
    [
      { source: 'flag', settings: flags.settings },
      { source: 'env', settings: settingsFromEnv(env) },
    ],
    env,
  );
  return !fs.existsSync(dataDirLayout(dataDir).configFile);
}
