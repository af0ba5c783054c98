import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { AgentError } from '../../util/errors';
import { QmpClient } from '../qmp';
import { isOwnedQemu, readProcStat, waitForExit } from './proc';

export interface LaunchOptions {
  /** `qemu-system-x86_64` or an absolute path. */
  binary: string;
  /**
   * From `buildQemuArgv` with `daemonize: false` (so `-sandbox` carries the full filter set:
   * QEMU need not fork or setsid itself) and `-pidfile <pidfile>`.
   */
  argv: string[];
  pidfile: string;
  /** QEMU's `-qmp` socket: the launch is done once QMP answers there. */
  qmpSocket: string;
  /** QEMU's stderr goes here (truncated per launch, 0600): start-up errors and later warnings. */
  stderrLog: string;
  vmId: string;
  /** How long start-up (device set-up, image opening, QMP handshake) may take. */
  timeoutMs?: number;
  logger: Logger;
}

export interface LaunchedQemu {
  pid: number;
  /** Start time in ticks since boot (`/proc/PID/stat` field 22): guards against PID reuse later. */
  startTicks: number;
  /** Connected and negotiated: QEMU has finished start-up. */
  qmp: QmpClient;
}

const STDERR_LIMIT = 8 * 1024;
/** After QMP fails, how long to wait for QEMU's exit (so the error can carry its message). */
const EXIT_GRACE_MS = 1_000;

type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

/**
 * Starts QEMU as a detached child (its own session, no pipes to the agent) and resolves once its QMP
 * socket answers. QEMU does not `-daemonize` itself, because QEMU 7.2 applies its seccomp filters
 * before the daemonizing fork and setsid, which would rule out the `spawn` and `elevateprivileges`
 * filters; detached this way it still outlives an agent that dies (the kernel re-parents it) and the
 * agent reaps it if it exits while the agent lives. A QEMU that exits during start-up, or whose QMP
 * never answers, is a `qemu_failed` error with QEMU's stderr in `details.stderr` (nothing is left
 * running).
 */
export async function launchQemu(opts: LaunchOptions): Promise<LaunchedQemu> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const log = await open(opts.stderrLog, 'w', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(opts.binary, opts.argv, {
      detached: true,
      stdio: ['ignore', 'ignore', log.fd],
      // Stable English messages; nothing from the agent's environment leaks into QEMU.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    });
  } finally {
    // The child holds its own copy of the descriptor.
    await log.close();
  }
  // Node reaps the child when it exits; the agent's event loop must not wait for it.
  child.unref();
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  void exited.then((exit) =>
    opts.logger.debug({ pid: child.pid, code: exit.code, signal: exit.signal }, 'QEMU exited'),
  );

  const connecting = QmpClient.connect(opts.qmpSocket, {
    timeoutMs,
    waitForSocket: true,
    logger: opts.logger,
  });
  const first = await Promise.race([
    connecting.then(
      (qmp) => ({ qmp }) as const,
      (error: unknown) => ({ error }) as const,
    ),
    exited.then((exit) => ({ exit }) as const),
  ]);
  if ('qmp' in first && child.pid !== undefined) {
    const stat = await readProcStat(child.pid);
    const pid = await readPidfile(opts.pidfile);
    if (stat && pid === child.pid) return { pid, startTicks: stat.startTicks, qmp: first.qmp };
    first.qmp.close();
    child.kill('SIGKILL');
    throw await failure(opts, `its pidfile names ${pid ?? 'nothing'}, not ${child.pid}`);
  }
  // Failed: a QEMU that still runs (QMP never answered) is killed; a connect still retrying after
  // QEMU exited runs out on its own and is dropped.
  void connecting.then(
    (qmp) => qmp.close(),
    () => undefined,
  );
  let exit = 'exit' in first ? first.exit : await withTimeout(exited, EXIT_GRACE_MS);
  if (!exit) {
    child.kill('SIGKILL');
    exit = await exited;
  }
  const why =
    exit.error?.message ??
    ('error' in first
      ? `QMP did not answer (${(first.error as Error).message})`
      : exit.signal
        ? `killed by ${exit.signal}`
        : `exit status ${exit.code}`);
  throw await failure(opts, why, exit, 'error' in first ? first.error : exit.error);
}

async function failure(opts: LaunchOptions, why: string, exit?: Exit, cause?: unknown): Promise<AgentError> {
  const stderr = (await readFile(opts.stderrLog, 'utf8').catch(() => '')).slice(0, STDERR_LIMIT).trim();
  return new AgentError(
    'qemu_failed',
    `QEMU failed to start (${why})${stderr ? `: ${lastLine(stderr)}` : ''}`,
    {
      cause,
      details: { stderr, exit_code: exit?.code ?? null },
    },
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** The PID in a QEMU pidfile, or `undefined` when missing or not a number. */
export async function readPidfile(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Ends a QEMU by PID, after checking it is still this VM's QEMU (never signals a reused PID):
 * SIGTERM, then SIGKILL after `graceMs`. Resolves when it is gone (or a zombie).
 */
export async function killQemu(pid: number, vmId: string, graceMs = 3000): Promise<void> {
  if (!(await isOwnedQemu(pid, vmId))) return;
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs)) return;
  if (!(await isOwnedQemu(pid, vmId))) return;
  signal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, 5000))) {
    throw new AgentError('qemu_failed', `QEMU pid ${pid} survived SIGKILL`, { details: { pid } });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  // QEMU prefixes messages with a timestamp under `-msg timestamp=on`.
  return (lines.at(-1) ?? text).replace(/^\S+T\S+Z?\s+/, '').slice(0, 500);
}
