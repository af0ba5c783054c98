/**
 * Which accelerator the agent launches VMs with. `/dev/kvm` existing proves little: under nested
 * virtualization without hardware support KVM can accept a guest and then run it a thousand times
 * slower than emulation (a Linux guest never finishes booting). So `auto` runs a tiny guest under
 * KVM with a deadline and uses KVM only when it really ran; the verdict is cached per kernel and
 * QEMU version in the agent's state directory. See docs/adr/003-accelerator-probe.md.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AcceleratorName, HostAccelerator } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { AccelSetting } from '../config';
import { AgentError } from '../util/errors';
import { readQemuInfo } from './qemu-info';

/** Where the probe's verdict is kept, inside the agent's state directory. */
export const ACCEL_CACHE_FILE = 'accel-probe.json';
/** Bump when the probe changes, so verdicts of the old probe are not trusted. */
const PROBE_VERSION = 1;
/** A working KVM finishes the probe in ≈ 0.1 s, TCG in ≈ 0.05 s; the broken KVM seen here takes ≈ 7 s. */
export const DEFAULT_PROBE_TIMEOUT_MS = 3_000;
/** The probe guest writes this to the isa-debug-exit port; QEMU exits with (value << 1) | 1. */
const PROBE_EXIT_VALUE = 0x31;
export const PROBE_EXIT_CODE = (PROBE_EXIT_VALUE << 1) | 1;
const DEBUG_EXIT_PORT = 0xf4;

/**
 * The probe guest: a 512-byte boot sector (SeaBIOS loads it at 0:7c00 in real mode) that does some
 * real work, then asks QEMU to exit. The work matters: the broken nested KVM this was written for
 * does get through a bare `out` instruction, only ≈ 1000× too slowly to run an operating system;
 * two million memory writes make that obvious against the deadline while costing a working KVM or
 * TCG a few milliseconds.
 */
export function probeBootSector(): Buffer {
  // biome-ignore format: one instruction per line
  const code = [
    0xbb, 0x00, 0x10,       // mov bx, 0x1000
    0x8e, 0xc3,             // mov es, bx           ; scratch segment 0x10000, far from the code
    0xba, 0x40, 0x00,       // mov dx, 64           ; outer loop: 64 passes…
    0x31, 0xff,             // outer: xor di, di
    0xb9, 0x00, 0x80,       // mov cx, 0x8000       ; …of 32768 word writes = 2 Mi writes
    0x26, 0x89, 0x05,       // inner: mov [es:di], ax
    0x83, 0xc7, 0x02,       // add di, 2
    0xe2, 0xf8,             // loop inner
    0x4a,                   // dec dx
    0x75, 0xf0,             // jnz outer
    0xb0, PROBE_EXIT_VALUE, // mov al, PROBE_EXIT_VALUE
    0xe6, DEBUG_EXIT_PORT,  // out DEBUG_EXIT_PORT, al   ; QEMU exits here
    0xfa,                   // cli
    0xf4,                   // hlt
    0xeb, 0xfe,             // jmp $                ; never reached
  ];
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector);
  sector[510] = 0x55; // boot signature
  sector[511] = 0xaa;
  return sector;
}

/** Outcome of running the probe guest once. */
export interface ProbeResult {
  accel: AcceleratorName;
  ok: boolean;
  reason: string;
  elapsedMs: number;
}

export interface ProbeOptions {
  qemuBinary?: string;
  timeoutMs?: number;
}

/**
 * Runs the probe guest under `accel` and says whether it finished in time with the expected exit
 * code. Never throws: every failure is a verdict. The boot sector lives in a private temporary
 * directory (file mode 0600) removed afterwards, and a guest that overruns is killed by its PID.
 */
export async function probeAccelerator(
  accel: AcceleratorName,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const binary = options.qemuBinary ?? 'qemu-system-x86_64';
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const started = Date.now();
  let dir: string | undefined;
  const verdict = (ok: boolean, reason: string): ProbeResult => ({
    accel,
    ok,
    reason,
    elapsedMs: Date.now() - started,
  });
  try {
    dir = await mkdtemp(join(tmpdir(), 'vireo-accel-probe-'));
    const image = join(dir, 'probe.img');
    await writeFile(image, probeBootSector(), { mode: 0o600 });
    const argv = [
      ...['-machine', 'pc', '-accel', accel, '-m', '16'],
      ...['-display', 'none', '-nodefaults', '-no-user-config'],
      ...['-device', `isa-debug-exit,iobase=0x${DEBUG_EXIT_PORT.toString(16)},iosize=0x04`],
      // QEMU doubles commas to escape them in option values.
      ...['-drive', `file=${image.replaceAll(',', ',,')},format=raw,if=ide`, '-boot', 'order=c'],
    ];
    const child = spawn(binary, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, error }));
      child.once('close', (code) => resolve({ code }));
    });
    clearTimeout(timer);
    const elapsed = Date.now() - started;
    if (exit.error) return verdict(false, `cannot run ${binary}: ${exit.error.message}`);
    if (timedOut) {
      return verdict(false, `the probe guest did not finish within ${timeoutMs} ms under ${accel} (killed)`);
    }
    if (exit.code === PROBE_EXIT_CODE)
      return verdict(true, `the probe guest ran under ${accel} in ${elapsed} ms`);
    const message = firstErrorLine(stderr);
    return verdict(
      false,
      `QEMU exited with code ${exit.code} under ${accel}${message ? `: ${message}` : ''}`,
    );
  } catch (error) {
    return verdict(false, `probe could not run: ${(error as Error).message}`);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** The KVM verdict as cached in the state directory. */
export interface KvmVerdict {
  usable: boolean;
  reason: string;
  elapsed_ms: number;
  probed_at: string;
  kernel_release: string;
  qemu_version: string;
  probe_version: number;
}

/** The accelerator the agent uses, and why. */
export interface AccelResolution {
  accel: AcceleratorName;
  reason: string;
  /** What is known about KVM: the probe's verdict, or why it was not probed. */
  kvm: { usable: boolean; reason: string; probed: boolean; cached: boolean };
}

export interface ResolveOptions extends ProbeOptions {
  /** The agent's state directory: the verdict cache lives there. */
  stateDir: string;
  logger?: Logger;
  /** Device node to check before probing (tests). */
  kvmDevice?: string;
}

/**
 * Turns the accel setting into the accelerator to launch VMs with.
 * - `tcg`: TCG, never probes.
 * - `kvm`: KVM as the administrator demands, provided `/dev/kvm` can be opened (else throws
 *   `unsupported`); not probed, so a KVM that hangs guests is on the administrator.
 * - `auto`: KVM when `/dev/kvm` is accessible and the probe guest ran under it within the deadline;
 *   otherwise TCG. The verdict is cached by kernel release + QEMU version (+ probe version).
 */
export async function resolveAccelerator(
  setting: AccelSetting,
  options: ResolveOptions,
): Promise<AccelResolution> {
  const log = options.logger?.child({ module: 'agent:accel' });
  if (setting === 'tcg') {
    const reason = 'the accel setting is tcg';
    return {
      accel: 'tcg',
      reason,
      kvm: { usable: false, reason: `not probed: ${reason}`, probed: false, cached: false },
    };
  }
  const device = options.kvmDevice ?? '/dev/kvm';
  const deviceProblem = await kvmDeviceProblem(device);
  if (setting === 'kvm') {
    if (deviceProblem) {
      throw new AgentError('unsupported', `the accel setting is kvm but ${deviceProblem}`, {
        details: { device },
      });
    }
    const reason = 'the accel setting is kvm (not probed)';
    return { accel: 'kvm', reason, kvm: { usable: true, reason, probed: false, cached: false } };
  }
  if (deviceProblem) {
    const reason = `KVM unavailable: ${deviceProblem}`;
    log?.info({ accel: 'tcg' }, reason);
    return {
      accel: 'tcg',
      reason,
      kvm: { usable: false, reason: deviceProblem, probed: false, cached: false },
    };
  }
  const { verdict, cached, probed } = await kvmVerdict(options);
  const kvm = { usable: verdict.usable, reason: verdict.reason, probed, cached };
  const resolution: AccelResolution = verdict.usable
    ? { accel: 'kvm', reason: `KVM works: ${verdict.reason}`, kvm }
    : { accel: 'tcg', reason: `KVM unusable, using TCG: ${verdict.reason}`, kvm };
  log?.info({ accel: resolution.accel, cached, elapsed_ms: verdict.elapsed_ms }, resolution.reason);
  return resolution;
}

/** The accelerators a QEMU binary has, each with whether the agent can use it (for capabilities). */
export function describeAccelerators(
  builtIn: string[],
  resolution: AccelResolution | undefined,
): HostAccelerator[] {
  const list: HostAccelerator[] = [];
  if (builtIn.includes('kvm')) {
    list.push({
      name: 'kvm',
      usable: resolution?.kvm.usable ?? false,
      reason: resolution?.kvm.reason ?? 'not probed',
    });
  }
  if (builtIn.includes('tcg'))
    list.push({ name: 'tcg', usable: true, reason: 'emulation, always available' });
  return list;
}

async function kvmDeviceProblem(device: string): Promise<string | undefined> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${device} does not exist` : `${device} cannot be opened read-write (${code})`;
  }
}

async function kvmVerdict(
  options: ResolveOptions,
): Promise<{ verdict: KvmVerdict; cached: boolean; probed: boolean }> {
  let qemuVersion: string;
  try {
    qemuVersion = (await readQemuInfo(options.qemuBinary)).version;
  } catch (error) {
    // Without QEMU's version the verdict cannot be keyed; TCG is the safe answer, and starting a VM
    // will report the real problem.
    const reason = `QEMU did not say its version: ${(error as Error).message}`;
    return {
      verdict: {
        usable: false,
        reason,
        elapsed_ms: 0,
        probed_at: new Date().toISOString(),
        kernel_release: release(),
        qemu_version: 'unknown',
        probe_version: PROBE_VERSION,
      },
      cached: false,
      probed: false,
    };
  }
  const key = { kernel_release: release(), qemu_version: qemuVersion, probe_version: PROBE_VERSION };
  const file = join(options.stateDir, ACCEL_CACHE_FILE);
  const previous = await readVerdict(file);
  if (
    previous &&
    previous.kernel_release === key.kernel_release &&
    previous.qemu_version === key.qemu_version &&
    previous.probe_version === key.probe_version
  ) {
    return { verdict: previous, cached: true, probed: true };
  }
  const probe = await probeAccelerator('kvm', options);
  const verdict: KvmVerdict = {
    ...key,
    usable: probe.ok,
    reason: probe.reason,
    elapsed_ms: probe.elapsedMs,
    probed_at: new Date().toISOString(),
  };
  try {
    // Written whole then renamed, so a crash never leaves half a verdict to be trusted.
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(verdict, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, file);
  } catch (err) {
    // The cache only saves the next start a probe: the verdict itself stands.
    options.logger?.warn({ err, file }, 'cannot cache the KVM probe verdict');
  }
  return { verdict, cached: false, probed: true };
}

async function readVerdict(file: string): Promise<KvmVerdict | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<KvmVerdict>;
    if (typeof value.usable !== 'boolean' || typeof value.reason !== 'string') return undefined;
    return value as KvmVerdict;
  } catch {
    // Missing or damaged: probe again.
    return undefined;
  }
}

/** QEMU's first real complaint, skipping the CPUID feature warnings it prints under KVM. */
function firstErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.includes('warning:'));
  return (lines[0] ?? '').slice(0, 300);
}
