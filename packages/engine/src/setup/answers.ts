import fs from 'node:fs';
import {
  ConfigError,
  type EngineConfig,
  type RawSettings,
  formatDuration,
  formatListen,
  stripPassword,
} from '../config';

/**
 * Answer files: `key=value` lines, `#` comments, like oVirt's engine-setup answer files, so an
 * installation can be replayed without questions. Setup writes the one it used (minus secrets) to
 * `<data>/setup-answers.conf`.
 */

export const ANSWER_KEYS = [
  'data_dir',
  'listen',
  'database_url',
  'organization',
  'server_names',
  'insecure_http',
  'log_level',
  'token_lifetime',
  'admin_password',
] as const;
export type AnswerKey = (typeof ANSWER_KEYS)[number];

/** An answer file's content: settings plus the (optional) admin password. */
export interface Answers {
  settings: RawSettings;
  adminPassword?: string;
}

const MAX_FILE_BYTES = 64 * 1024;

export function parseAnswers(text: string, origin = 'answer file'): Answers {
  if (text.length > MAX_FILE_BYTES) throw new ConfigError(`${origin} is larger than 64 KiB`);
  const seen = new Set<string>();
  const settings: RawSettings = {};
  let adminPassword: string | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const eq = t.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${origin} line ${i + 1}: expected key=value`);
    const key = t.slice(0, eq).trim().toLowerCase();
    const value = t.slice(eq + 1).trim();
    if (!(ANSWER_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(
        `${origin} line ${i + 1}: unknown key "${key}" (known: ${ANSWER_KEYS.join(', ')})`,
      );
    }
    if (seen.has(key)) throw new ConfigError(`${origin} line ${i + 1}: "${key}" given twice`);
    seen.add(key);
    switch (key as AnswerKey) {
      case 'data_dir':
        settings.dataDir = value;
        break;
      case 'listen':
        settings.listen = value;
        break;
      case 'database_url':
        settings.databaseUrl = value === '' || value.toLowerCase() === 'embedded' ? null : value;
        break;
      case 'organization':
        settings.organization = value;
        break;
      case 'server_names':
        settings.serverNames = value;
        break;
      case 'insecure_http':
        settings.insecureHttp = value;
        break;
      case 'log_level':
        settings.logLevel = value;
        break;
      case 'token_lifetime':
        settings.tokenLifetime = value;
        break;
      case 'admin_password':
        if (value !== '') adminPassword = value;
        break;
    }
  });
  return adminPassword === undefined ? { settings } : { settings, adminPassword };
}

/** Reads an answer file; warns (through `warn`) when it holds a password others can read. */
export function readAnswerFile(file: string, warn: (msg: string) => void = () => {}): Answers {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read answer file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const answers = parseAnswers(text, file);
  if (answers.adminPassword !== undefined && (fs.statSync(file).mode & 0o077) !== 0) {
    warn(`${file} holds admin_password but other users can read it; chmod 600 it or remove the password`);
  }
  return answers;
}

/** The answer file setup writes: every setting it used, never a secret. */
export function formatAnswers(c: EngineConfig, meta: { version: string; date: Date }): string {
  const lines = [
    `# vireo-engine setup answers, written by vireo-engine ${meta.version} on ${meta.date.toISOString()}`,
    '# Secrets (admin password, database password, keys) are never written here.',
    '# Replay on another machine: vireo-engine setup --answer-file THIS_FILE',
    `data_dir=${c.dataDir}`,
    `listen=${formatListen(c.listen)}`,
    `database_url=${c.database.kind === 'external' ? stripPassword(c.database.url) : 'embedded'}`,
    `organization=${c.organization}`,
    `server_names=${c.serverNames.join(',')}`,
    `insecure_http=${c.insecureHttp}`,
    `log_level=${c.logLevel}`,
    `token_lifetime=${formatDuration(c.tokenLifetimeMs)}`,
  ];
  return `${lines.join('\n')}\n`;
}
