import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { AgentError } from '../../util/errors';
import { isOwnedQemu, readProcStat, waitForExit } from './proc';

export interface LaunchOptions {
  /** `qemu-system-x86_64` or an absolute path. */
  binary: string;
  /** From `buildQemuArgv`: must contain `-daemonize` and `-pidfile <pidfile>`. */
  argv: string[];
  pidfile: string;
  vmId: string;
  /** How long the launcher may take to daemonize (device set-up, image opening). */
  timeoutMs?: number;
}

export interface LaunchedQemu {
  pid: number;
  /** Start time in ticks since boot (`/proc/PID/stat` field 22): guards against PID reuse later. */
  startTicks: number;
}

const STDERR_LIMIT = 8 * 1024;

/**
 * Starts a daemonized QEMU and returns the daemon's PID. QEMU's launcher process exits 0 once the
 * daemon has set up every device (so most configuration errors surface here, with QEMU's message),
 * and the daemon keeps running on its own: the agent can die and come back without touching it.
 * Throws `qemu_failed` with QEMU's stderr in `details.stderr`.
 */
export async function launchDaemonizedQemu(opts: LaunchOptions): Promise<LaunchedQemu> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child = spawn(opts.binary, opts.argv, {
    stdio: ['ignore', 'ignore', 'pipe'],
    // Stable English messages; nothing from the agent's environment leaks into QEMU.
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk.slice(0, STDERR_LIMIT - stderr.length);
  });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({
          code: null,
          signal: null,
          error: new Error(`QEMU did not daemonize within ${timeoutMs} ms`),
        });
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        resolve({ code: null, signal: null, error });
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    },
  );
  // The daemon closes the inherited stderr only when it finishes start-up; don't wait for that.
  child.stderr?.destroy();
  const message = stderr.trim();
  if (exit.error || exit.code !== 0) {
    // A launcher killed on timeout may already have forked the daemon: don't leave it behind.
    await killStrayDaemon(opts);
    const why =
      exit.error?.message ?? (exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`);
    throw new AgentError(
      'qemu_failed',
      `QEMU failed to start (${why})${message ? `: ${lastLine(message)}` : ''}`,
      {
        cause: exit.error,
        details: { stderr: message, exit_code: exit.code },
      },
    );
  }
  const pid = await readPidfile(opts.pidfile);
  const stat = await readProcStat(pid ?? -1);
  if (pid === undefined || !stat || !(await isOwnedQemu(pid, opts.vmId))) {
    throw new AgentError(
      'qemu_failed',
      'QEMU daemonized but its pidfile does not name a live QEMU for this VM',
      {
        details: { pidfile: opts.pidfile, pid: pid ?? null, stderr: message },
      },
    );
  }
  return { pid, startTicks: stat.startTicks };
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

async function killStrayDaemon(opts: LaunchOptions): Promise<void> {
  const pid = await readPidfile(opts.pidfile);
  if (pid !== undefined) await killQemu(pid, opts.vmId, 1000);
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  // QEMU prefixes messages with a timestamp under `-msg timestamp=on`.
  return (lines.at(-1) ?? text).replace(/^\S+T\S+Z?\s+/, '').slice(0, 500);
}
