import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { workerPortEnv } from './worker-ports';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The bundled binary `npm start` runs; tests use the same file. */
export const ENGINE_BIN = path.join(REPO, 'packages/engine/dist/vireo-engine.js');
const READY_RE = /ready at (https?:\/\/\S+)/;
const GENERATED_RE = /admin@internal password \(generated[^)]*\): (\S+)/;

export interface StartEngineOptions {
  /** Use this data directory (the caller owns it). Default: a fresh temp directory owned by the handle. */
  dataDir?: string;
  /** Extra environment (VIREO_*). `VIREO_LISTEN` defaults to 127.0.0.1:0 (any free port). */
  env?: Record<string, string | undefined>;
  /**
   * admin@internal's password for a first setup. Default: a random one passed as
   * VIREO_ADMIN_PASSWORD. `null`: let the engine generate one (read back from its output).
   */
  adminPassword?: string | null;
  /** Extra command-line arguments after `start`. */
  args?: string[];
  /** How long to wait for `ready at` (default 60 s). */
  timeoutMs?: number;
  /** Send the engine's log (stderr) to this file instead of keeping it in memory (benchmarks). */
  logFile?: string;
}

export interface EngineProcess {
  /** e.g. https://127.0.0.1:40123 — from the engine's own `ready at` line. */
  url: string;
  /** The engine CA (`<data>/pki/ca.pem`); trust it to talk to `url`. */
  caPem: string;
  /** admin@internal's password as set up (undefined when it is unknown to this handle). */
  adminPassword: string | undefined;
  dataDir: string;
  pid: number;
  /** Everything the process printed so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, wait for exit (returns its status); removes the temp data dir when the handle owns it. */
  stop(): Promise<number | null>;
  /** SIGKILL (PostgreSQL is left orphaned, as after a crash), wait; cleans up like stop(). */
  kill(): Promise<void>;
  /** Ends this process (`SIGTERM` or `SIGKILL`) and starts a new engine on the same data directory. */
  restart(signal?: 'SIGTERM' | 'SIGKILL', opts?: Omit<StartEngineOptions, 'dataDir'>): Promise<EngineProcess>;
}

/** The result of a run that did not become ready (e.g. a refusal). */
export interface EngineExit {
  status: number | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Builds the bundle once if it is missing (npm test builds it before vitest runs). */
export function ensureEngineBuilt(): void {
  if (fs.existsSync(ENGINE_BIN)) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the engine failed: ${r.stderr}`);
}

/**
 * A fresh data directory under the system temp dir: the embedded PostgreSQL's own account must
 * be able to traverse it when tests run as root, so it is 0711 rather than mkdtemp's 0700.
 */
export function makeDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-engine-test-'));
  fs.chmodSync(dir, 0o711);
  return dir;
}

/**
 * Removes a data directory, first stopping a PostgreSQL that a killed engine left running in it.
 */
export async function removeDataDir(dir: string): Promise<void> {
  await stopOrphanPostgres(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs `vireo-engine start` as a child process and waits for its `ready at` line. */
export async function startEngine(opts: StartEngineOptions = {}): Promise<EngineProcess> {
  ensureEngineBuilt();
  const owned = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? makeDataDir();
  try {
    return await launch(dataDir, owned, opts);
  } catch (err) {
    if (owned) await removeDataDir(dataDir);
    throw err;
  }
}

/**
 * Runs the engine binary with arguments until it exits (for commands such as `setup`, `version`,
 * or a `start` that must refuse). `input` is written to its stdin.
 */
export async function runEngineCommand(
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {},
): Promise<EngineExit> {
  ensureEngineBuilt();
  const child = spawn(process.execPath, [ENGINE_BIN, ...args], {
    env: engineEnv(opts.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const status = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearTimeout(timer);
  live.delete(child);
  return { status, stdout, stderr };
}

async function launch(dataDir: string, owned: boolean, opts: StartEngineOptions): Promise<EngineProcess> {
  const adminPassword =
    opts.adminPassword === null ? undefined : (opts.adminPassword ?? randomBytes(12).toString('base64url'));
  const env = engineEnv({
    VIREO_DATA_DIR: dataDir,
    VIREO_LISTEN: '127.0.0.1:0',
    VIREO_LOG_LEVEL: 'info',
    ...(adminPassword ? { VIREO_ADMIN_PASSWORD: adminPassword } : {}),
    ...opts.env,
  });
  // The password travels in the environment, never on the command line.
  const logFd = opts.logFile ? fs.openSync(opts.logFile, 'a', 0o600) : undefined;
  const child = spawn(process.execPath, [ENGINE_BIN, 'start', ...(opts.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', logFd ?? 'pipe'],
  });
  if (logFd !== undefined) fs.closeSync(logFd);
  live.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? (signal ? 128 : null));
    }),
  );

  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let url: string | undefined;
  let early: number | null | undefined;
  void exited.then((code) => {
    early = code;
  });
  while (!url) {
    url = READY_RE.exec(out)?.[1];
    if (url) break;
    if (early !== undefined) {
      throw new Error(
        `vireo-engine exited (${early}) before it was ready\nstdout:\n${out}\nstderr:\n${err.slice(-4000)}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`vireo-engine was not ready in time\nstdout:\n${out}\nstderr:\n${err.slice(-4000)}`);
    }
    await sleep(20);
  }
  const generated = GENERATED_RE.exec(out)?.[1];
  const caPem = fs.readFileSync(path.join(dataDir, 'pki', 'ca.pem'), 'utf8');

  const end = async (signal: 'SIGTERM' | 'SIGKILL', cleanup: boolean): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const status = await exited;
    if (cleanup && owned) await removeDataDir(dataDir);
    return status;
  };
  const handle: EngineProcess = {
    url,
    caPem,
    adminPassword: generated ?? adminPassword,
    dataDir,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    stop: () => end('SIGTERM', true),
    async kill() {
      await end('SIGKILL', true);
    },
    async restart(signal = 'SIGTERM', next = {}) {
      await end(signal, false);
      try {
        const again = await launch(dataDir, owned, { adminPassword: handle.adminPassword ?? null, ...next });
        // The password was set by the first setup; a restart cannot change it.
        again.adminPassword = handle.adminPassword;
        return again;
      } catch (e) {
        if (owned) await removeDataDir(dataDir);
        throw e;
      }
    },
  };
  return handle;
}

/** A clean environment: the caller's, minus any VIREO_* it may have, plus `extra`. */
function engineEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VIREO_')) env[k] = v;
  // The worker's agent port slice reaches the engine's local agent (test/support/worker-ports.ts).
  Object.assign(env, workerPortEnv());
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Stops the PostgreSQL whose cluster lives in `<dataDir>/postgresql`, if one is still running. */
async function stopOrphanPostgres(dataDir: string): Promise<void> {
  const cluster = path.join(dataDir, 'postgresql');
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isPostgresFor(pid, cluster)) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 500 && isPostgresFor(pid, cluster); i++) await sleep(20);
}

/** True while `pid` is a live (not zombie) postgres serving `cluster`. */
export function isPostgresFor(pid: number, cluster: string): boolean {
  try {
    if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))) return false;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline[0]?.endsWith('/postgres') === true && cmdline.includes(cluster);
  } catch {
    return false;
  }
}
