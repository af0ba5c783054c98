import { readFile, readdir } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * Reading `/proc`. A QEMU the agent launched is its child only until the agent restarts (then the
 * kernel re-parents it), and an adopted one never was: whether it lives, and whether a PID still
 * belongs to the same QEMU, is read from here rather than from `wait()`.
 */

/** User-space clock ticks per second: fixed at 100 on Linux for every `/proc` interface (USER_HZ). */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  pid: number;
  /** Kernel's short command name (first 15 bytes). */
  comm: string;
  /** `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead)… */
  state: string;
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
  /** When the process started, in ticks since boot: with the PID, identifies one process for good. */
  startTicks: number;
}

/** Parses `/proc/PID/stat`; `undefined` when the process does not exist. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(pid, text);
}

/** `comm` may hold spaces and parentheses, so the fields are counted from the last `)`. */
export function parseProcStat(pid: number, text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const field = (n: number) => Number(rest[n - 3]);
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: field(4),
    utimeTicks: field(14),
    stimeTicks: field(15),
    startTicks: field(22),
  };
}

/** True when the process exists and is not a zombie (a dead QEMU its new parent has not reaped). */
export function isRunningState(stat: ProcStat | undefined): stat is ProcStat {
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x';
}

export async function isProcessRunning(pid: number): Promise<boolean> {
  return isRunningState(await readProcStat(pid));
}

/** The process's argv, or `undefined` if it is gone (a zombie has an empty cmdline). */
export async function readCmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (raw.length === 0) return undefined;
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/** Resident set size from `/proc/PID/status` (`VmRSS`, kB), in bytes; 0 when unknown. */
export async function readRssBytes(pid: number): Promise<number> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function isQemuBinary(argv0: string | undefined): boolean {
  return argv0 !== undefined && basename(argv0).startsWith('qemu-system-');
}

/** The value after `flag` in a QEMU argv (`-uuid X`, `-name guest=X,…`). */
export function argAfter(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/**
 * Whether `pid` is a live QEMU started for VM `vmId`: not a zombie, a `qemu-system-*` binary, and
 * `-uuid` is the VM's id. PIDs are reused, so a pidfile alone proves nothing. When `startTicks` is
 * known (recorded at launch), it must match too.
 */
export async function isOwnedQemu(pid: number, vmId: string, startTicks?: number): Promise<boolean> {
  const stat = await readProcStat(pid);
  if (!isRunningState(stat)) return false;
  if (startTicks !== undefined && stat.startTicks !== startTicks) return false;
  const argv = await readCmdline(pid);
  if (!argv || !isQemuBinary(argv[0])) return false;
  return argAfter(argv, '-uuid')?.toLowerCase() === vmId.toLowerCase();
}

export interface QemuProcess {
  pid: number;
  binary: string;
  argv: string[];
  uuid: string | null;
  name: string | null;
}

/** Every live `qemu-system-*` process on the host. */
export async function scanQemuProcesses(): Promise<QemuProcess[]> {
  const entries = await readdir('/proc');
  const found: QemuProcess[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      const pid = Number(entry);
      const argv = await readCmdline(pid);
      if (!argv || !isQemuBinary(argv[0])) return;
      if (!(await isProcessRunning(pid))) return;
      const nameOpt = argAfter(argv, '-name');
      const name = nameOpt
        ? (/(?:^|,)guest=((?:[^,]|,,)*)/.exec(nameOpt)?.[1] ?? nameOpt.split(',')[0] ?? null)
        : null;
      found.push({
        pid,
        binary: argv[0] ?? '',
        argv,
        uuid: argAfter(argv, '-uuid')?.toLowerCase() ?? null,
        name: name?.replaceAll(',,', ',') ?? null,
      });
    }),
  );
  return found.sort((a, b) => a.pid - b.pid);
}

/** Resolves once `pid` is gone or a zombie; `false` if it still runs after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isProcessRunning(pid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
