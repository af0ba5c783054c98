import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { setAdminPassword } from '../auth/admin';
import { type EngineConfig, toConfigFile } from '../config';
import { openDb } from '../db/connection';
import { EngineCa, ensureServerCertificate, serverCertificateNames } from '../pki/engine-ca';
import { writeFileAtomic, writeSecretFile } from '../pki/files';
import { formatAnswers } from './answers';
import { migrateDatabase, startDatabase } from './database';
import { Reverter } from './reverter';

export const ADMIN_USERNAME = 'admin@internal';
const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 1024;

export interface AdminPasswordChoice {
  value: string;
  /** Where it came from, for the summary (never the value itself). */
  source: string;
}

export interface SetupOptions {
  config: EngineConfig;
  /** Undefined: generate one (first setup) or keep the current one (later setups). */
  adminPassword?: AdminPasswordChoice;
  /** Set the admin password even though the data directory is already set up. */
  resetAdminPassword?: boolean;
  version: string;
  log: Logger;
  /** Where the person running setup reads progress (stdout); never the log. */
  say: (line: string) => void;
}

export interface SetupResult {
  /** True when this call created the installation (false: it reconfigured an existing one). */
  firstSetup: boolean;
  /** Set when setup generated the admin password; the caller prints it once. */
  generatedPassword?: string;
}

/** True once setup has completed in this data directory (engine.conf is written last). */
export function isSetUp(config: EngineConfig): boolean {
  return fs.existsSync(config.paths.configFile);
}

/** A password a person can copy: 24 characters from 144 random bits. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export function checkPassword(pw: string): void {
  if (pw.length < MIN_PASSWORD_LENGTH)
    throw new Error(`the admin password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (pw.length > MAX_PASSWORD_LENGTH)
    throw new Error(`the admin password must have at most ${MAX_PASSWORD_LENGTH} characters`);
}

/**
 * Sets up (or reconfigures) an engine in `config.dataDir`: directories, the engine CA and server
 * certificate, the database (embedded cluster or external URL) migrated, `admin@internal`, then
 * `engine.conf` and the answer file. On failure everything this call created is removed again.
 */
export async function runSetup(opts: SetupOptions): Promise<SetupResult> {
  const { config, say } = opts;
  const log = opts.log.child({ module: 'engine:setup' });
  const p = config.paths;
  const firstSetup = !isSetUp(config);
  const r = new Reverter();
  let db: Awaited<ReturnType<typeof startDatabase>> | undefined;
  try {
    if (opts.adminPassword) checkPassword(opts.adminPassword.value);
    say(`${firstSetup ? 'Setting up' : 'Reconfiguring'} the Vireo engine in ${p.root}`);
    mkdirTracked(r, p.root, process.getuid?.() === 0 ? 0o711 : 0o700);
    mkdirTracked(r, p.secretsDir, 0o700);
    mkdirTracked(r, p.pkiDir, 0o755);
    mkdirTracked(r, p.logDir, 0o750);

    let ca: EngineCa;
    if (fs.existsSync(p.caCert) || fs.existsSync(p.caKey)) {
      ca = EngineCa.load(p);
      say(`  CA: keeping the existing engine CA (${p.caCert})`);
    } else {
      ca = await EngineCa.create(p, { organization: config.organization });
      r.add('remove the new CA', () => {
        fs.rmSync(p.caCert, { force: true });
        fs.rmSync(p.caKey, { force: true });
      });
      say(
        `  CA: created "${ca.info().subject}", valid until ${ca.info().notAfter.toISOString().slice(0, 10)}`,
      );
    }
    const names = serverCertificateNames({ serverNames: config.serverNames, listenHost: config.listen.host });
    const hadServerCert = fs.existsSync(p.serverCert);
    await ensureServerCertificate(ca, p, names, (msg, f) => log.info(f ?? {}, msg));
    if (!hadServerCert) {
      r.add('remove the server certificate', () => {
        fs.rmSync(p.serverCert, { force: true });
        fs.rmSync(p.serverKey, { force: true });
      });
    }
    say(`  HTTPS certificate for: ${names.join(', ')}`);

    if (config.database.kind === 'external') {
      const pw = new URL(config.database.url).password;
      if (pw) {
        const existed = fs.existsSync(p.databasePassword);
        writeSecretFile(p.databasePassword, `${decodeURIComponent(pw)}\n`);
        if (!existed)
          r.add('remove the database password file', () => fs.rmSync(p.databasePassword, { force: true }));
      }
    }
    const hadCluster = fs.existsSync(p.postgresDir);
    db = await startDatabase(config, opts.log);
    if (!hadCluster && db.embedded) {
      r.add('remove the new PostgreSQL cluster', () => {
        fs.rmSync(p.postgresDir, { recursive: true, force: true });
        fs.rmSync(p.postgresPassword, { force: true });
      });
    }
    say(`  Database: ${db.description}`);
    const schema = await migrateDatabase(db.target, opts.log);
    say(`  Schema: version ${schema.current} (${schema.appliedNow ?? 0} migration(s) applied now)`);

    let generatedPassword: string | undefined;
    if (firstSetup || opts.resetAdminPassword) {
      const password = opts.adminPassword?.value ?? generatePassword();
      if (!opts.adminPassword) generatedPassword = password;
      const handle = openDb(db.target, { max: 1 });
      try {
        await setAdminPassword(handle.db, password);
      } finally {
        await handle.close();
      }
      say(
        `  ${ADMIN_USERNAME}: password ${opts.adminPassword ? `from ${opts.adminPassword.source}` : 'generated (shown below, once)'}`,
      );
    } else {
      say(`  ${ADMIN_USERNAME}: password unchanged (use --reset-admin-password to change it)`);
    }

    // engine.conf last: its presence is what marks the data directory as set up.
    writeFileAtomic(p.answersFile, formatAnswers(config, { version: opts.version, date: new Date() }), 0o600);
    writeFileAtomic(p.configFile, `${JSON.stringify(toConfigFile(config), null, 2)}\n`, 0o644);
    r.success();
    say(`  Wrote ${p.configFile} and ${p.answersFile}`);
    return generatedPassword === undefined ? { firstSetup } : { firstSetup, generatedPassword };
  } catch (err) {
    await db?.stop().catch(() => {});
    db = undefined;
    await r.revert((what, e) => log.warn({ err: e }, `setup: could not ${what}`));
    throw err;
  } finally {
    await db?.stop();
  }
}

/** mkdir that registers its own undo when it created the directory. */
function mkdirTracked(r: Reverter, dir: string, mode: number): void {
  if (fs.existsSync(dir)) return;
  const created = fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  if (created) r.add(`remove ${created}`, () => fs.rmSync(created, { recursive: true, force: true }));
}
