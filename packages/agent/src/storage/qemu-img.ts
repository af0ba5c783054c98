import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { StorageError } from './errors';
import { hasControlChars } from './control-chars';

/** Formats the agent creates and opens. QEMU is always told which one: it never probes. */
export type ImageFormat = 'qcow2' | 'raw';
export type Preallocation = 'off' | 'metadata' | 'falloc' | 'full';

/** Resource limits for one `qemu-img` run: a hostile image must not exhaust the host. */
export interface QemuImgLimits {
  /** Wall-clock limit; the process is killed (SIGKILL) after it. */
  timeoutMs: number;
  /** CPU time limit (`prlimit --cpu`). */
  cpuSeconds: number;
  /** Address-space limit (`prlimit --as`). */
  memoryBytes: number;
}

const GiB = 1024 ** 3;
/** Limits for metadata reads (info, check of a small image, create, resize). */
export const METADATA_LIMITS: QemuImgLimits = { timeoutMs: 30_000, cpuSeconds: 30, memoryBytes: 1 * GiB };
/** Limits for `check`, which walks every cluster's metadata. */
export const CHECK_LIMITS: QemuImgLimits = { timeoutMs: 600_000, cpuSeconds: 600, memoryBytes: 2 * GiB };
/** Limits for `convert`, which copies data. */
export const CONVERT_LIMITS: QemuImgLimits = {
  timeoutMs: 4 * 3600_000,
  cpuSeconds: 4 * 3600,
  memoryBytes: 4 * GiB,
};

/**
 * The environment of a limited qemu-img: two malloc arenas. glibc reserves 64 MiB of address space
 * per arena, up to 8 per core, and each new worker thread of a busy qemu-img may take one — under
 * load that alone reached the `--as` limit ("qemu_thread_create: Resource temporarily
 * unavailable", SIGABRT) for a 16 MiB LUKS create that fits in 100 MiB with two arenas.
 */
export function qemuImgEnv(): NodeJS.ProcessEnv {
  return { ...process.env, MALLOC_ARENA_MAX: '2' };
}

/** Caps on captured output: qemu-img's JSON is small, so more means something is wrong. */
const MAX_STDOUT_BYTES = 8 * 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;

export interface QemuImgResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  limits?: QemuImgLimits;
  /** Exit codes that count as success (default only 0); `check` uses 2/3 to report problems. */
  okExitCodes?: number[];
}

/**
 * Runs `qemu-img ARGS` under `prlimit` (no shell: arguments go straight to exec), with a timeout.
 * Throws `qemu_img_timeout`, or `qemu_img_failed` carrying the exit code and stderr.
 */
export async function runQemuImg(args: string[], options: RunOptions = {}): Promise<QemuImgResult> {
  const limits = options.limits ?? METADATA_LIMITS;
  const ok = options.okExitCodes ?? [0];
  const argv = [`--cpu=${limits.cpuSeconds}`, `--as=${limits.memoryBytes}`, '--', 'qemu-img', ...args];
  return new Promise((resolve, reject) => {
    // prlimit sets the limits on itself and execs qemu-img: one PID to kill on timeout.
    const child = spawn('prlimit', argv, { stdio: ['ignore', 'pipe', 'pipe'], env: qemuImgEnv() });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let overflow = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_STDOUT_BYTES) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderrBytes < MAX_STDERR_BYTES) stderr.push(chunk.subarray(0, MAX_STDERR_BYTES - stderrBytes));
      stderrBytes += chunk.length;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(
        new StorageError(
          'qemu_img_failed',
          `cannot run qemu-img: ${error.message}`,
          { args },
          { cause: error },
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8').trim(),
        exitCode: code ?? -1,
      };
      const command = args[0] ?? '';
      if (timedOut) {
        reject(
          new StorageError(
            'qemu_img_timeout',
            `qemu-img ${command} took longer than ${limits.timeoutMs} ms`,
            { args },
          ),
        );
      } else if (overflow) {
        reject(new StorageError('qemu_img_failed', `qemu-img ${command} produced too much output`, { args }));
      } else if (signal || !ok.includes(result.exitCode)) {
        // SIGXCPU / SIGKILL from the CPU limit, or a plain failure.
        const why = signal ? `killed by ${signal} (resource limit?)` : `exit code ${result.exitCode}`;
        reject(
          new StorageError('qemu_img_failed', `qemu-img ${command} failed (${why}): ${result.stderr}`, {
            args,
            exitCode: result.exitCode,
            signal,
            stderr: result.stderr,
          }),
        );
      } else {
        resolve(result);
      }
    });
  });
}

/** Doubles commas for values inside a QEMU option string (`--image-opts`, `--object`). */
export function escapeOptValue(value: string): string {
  if (hasControlChars(value)) {
    throw new StorageError('invalid_volume_name', 'path contains a control character', { path: value });
  }
  return value.replaceAll(',', ',,');
}

/**
 * Image options naming the format and the file explicitly, so neither the format nor the protocol is
 * guessed from the file name or content (no `json:` pseudo-protocol, no `nbd:` prefix parsing).
 */
export function imageOpts(path: string, format: ImageFormat, extra: string[] = []): string {
  return [`driver=${format}`, 'file.driver=file', `file.filename=${escapeOptValue(path)}`, ...extra].join(
    ',',
  );
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new StorageError('qemu_img_failed', `qemu-img ${what} printed invalid JSON`, {}, { cause: error });
  }
}

/** Parts of `qemu-img info --output=json` the agent uses. */
export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  encrypted?: boolean;
  'dirty-flag'?: boolean;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export interface CreateImageOptions {
  path: string;
  format: ImageFormat;
  sizeBytes: number;
  preallocation?: Preallocation;
  /** LUKS encryption (qcow2 only): a 0600 file holding the passphrase; never the value itself. */
  encryption?: { secretFile: string; iterTimeMs?: number };
}

/** PBKDF2 calibration in QEMU sometimes measures 0 ms of thread CPU time on fast hosts and gives up. */
const LUKS_BENCHMARK_FLAKE = 'Unable to get accurate CPU usage';

/** Creates a new image. Fails if qemu-img fails; callers check the path is free beforehand. */
export async function createImage(options: CreateImageOptions): Promise<void> {
  const { path, format, sizeBytes } = options;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new StorageError('qemu_img_failed', 'image size must be a positive whole number of bytes', {
      sizeBytes,
    });
  }
  const o: string[] = [];
  const args = ['create', '-q', '-f', format];
  if (options.preallocation) o.push(`preallocation=${options.preallocation}`);
  if (options.encryption) {
    if (format !== 'qcow2') throw new StorageError('image_unsupported', 'only qcow2 images can be encrypted');
    args.push(
      '--object',
      `secret,id=vireo-sec0,format=raw,file=${escapeOptValue(options.encryption.secretFile)}`,
    );
    o.push('encrypt.format=luks', 'encrypt.key-secret=vireo-sec0');
    if (options.encryption.iterTimeMs)
      o.push(`encrypt.iter-time=${Math.trunc(options.encryption.iterTimeMs)}`);
  }
  if (o.length) args.push('-o', o.join(','));
  args.push(path, String(sizeBytes));
  await retryLuksBenchmark(() => runQemuImg(args));
}

/** True when a qemu-img failure is QEMU's PBKDF calibration giving up (worth another try). */
export function isLuksBenchmarkFlake(error: unknown): boolean {
  const e = error as { message?: unknown; details?: { stderr?: unknown } } | null;
  return `${String(e?.message ?? '')}\n${String(e?.details?.stderr ?? '')}`.includes(LUKS_BENCHMARK_FLAKE);
}

/**
 * Tries of a qemu-img run that writes a LUKS header. The calibration fails on about a third of
 * tries here (thread CPU time is counted in ticks), and under load runs of failures are longer
 * than chance alone would make them; each failed try returns within tens of ms.
 */
export const LUKS_CREATE_ATTEMPTS = 20;

/**
 * Runs `fn` (a qemu-img run that creates a LUKS header) again, up to {@link LUKS_CREATE_ATTEMPTS}
 * times, while it fails only because QEMU's PBKDF calibration measured no CPU time.
 * `beforeRetry` removes what a failed try left behind.
 */
export async function retryLuksBenchmark<T>(
  fn: () => Promise<T>,
  beforeRetry?: () => Promise<void>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await luksCreations.run(fn);
    } catch (error) {
      if (!isLuksBenchmarkFlake(error) || attempt >= LUKS_CREATE_ATTEMPTS) throw error;
      await beforeRetry?.();
    }
  }
}

/**
 * At most one LUKS header is made per core at a time. Each costs ≈ 2 s of CPU whatever the
 * iter-time (QEMU calibrates PBKDF2 for 0.5 s+ twice); a burst of them (thin clones of an encrypted
 * template) run all at once would share the cores until every one passed qemu-img's time limit.
 * Waiting here is outside that limit, which then measures only the run.
 */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

const luksCreations = new Slots(Math.max(1, availableParallelism()));

/**
 * Creates a qcow2 overlay on `backingPath`. The backing format is always explicit (`-F`): without it
 * QEMU would probe the backing file, and a raw backing file could pose as qcow2. `backingPath` is
 * written into the overlay as given: pass a path relative to the overlay's directory to keep a
 * storage domain relocatable.
 */
export async function createOverlay(options: {
  path: string;
  backingPath: string;
  backingFormat: ImageFormat;
  sizeBytes?: number;
  /**
   * LUKS-encrypts the overlay with the passphrase in this 0600 file. The backing file keeps its
   * own encryption: qemu-img reads only its header (its size), which needs no key.
   */
  encryption?: { secretFile: string; iterTimeMs?: number };
}): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2'];
  if (options.encryption) {
    args.push(
      '--object',
      `secret,id=vireo-sec0,format=raw,file=${escapeOptValue(options.encryption.secretFile)}`,
      '-o',
      [
        'encrypt.format=luks',
        'encrypt.key-secret=vireo-sec0',
        ...(options.encryption.iterTimeMs
          ? [`encrypt.iter-time=${Math.trunc(options.encryption.iterTimeMs)}`]
          : []),
      ].join(','),
    );
  }
  args.push('-b', options.backingPath, '-F', options.backingFormat, options.path);
  if (options.sizeBytes !== undefined) args.push(String(options.sizeBytes));
  await retryLuksBenchmark(() => runQemuImg(args));
}

export interface InfoOptions {
  format: ImageFormat;
  /** Follow and report the whole backing chain (trusted images only: it opens the backing files). */
  backingChain?: boolean;
  /** `-U`: read an image a running QEMU holds locked. */
  forceShare?: boolean;
  limits?: QemuImgLimits;
}

/** `qemu-img info` with an explicit format. Returns one entry, or the chain (top first) with `backingChain`. */
export async function imageInfo(
  path: string,
  options: InfoOptions & { backingChain: true },
): Promise<ImageInfo[]>;
export async function imageInfo(path: string, options: InfoOptions): Promise<ImageInfo>;
export async function imageInfo(path: string, options: InfoOptions): Promise<ImageInfo | ImageInfo[]> {
  const args = ['info', '--output=json', '-f', options.format];
  if (options.backingChain) args.push('--backing-chain');
  if (options.forceShare) args.push('-U');
  args.push(path);
  const { stdout } = await runQemuImg(args, { limits: options.limits });
  return parseJson<ImageInfo | ImageInfo[]>(stdout, 'info');
}

/** `qemu-img check --output=json` results (qcow2). */
export interface CheckResult {
  filename: string;
  format: string;
  'check-errors': number;
  corruptions?: number;
  leaks?: number;
  'corruptions-fixed'?: number;
  'leaks-fixed'?: number;
  'image-end-offset'?: number;
  'total-clusters'?: number;
  'allocated-clusters'?: number;
}

/**
 * `qemu-img check` (read-only: never `-r`). Resolves with the report whether or not the image is
 * clean (exit codes 2 = corruptions, 3 = leaks); throws only when the check itself could not run.
 */
export async function checkImage(
  path: string,
  options: { format: ImageFormat; forceShare?: boolean; limits?: QemuImgLimits; imageOptions?: boolean },
): Promise<CheckResult> {
  const args = ['check', '--output=json'];
  if (options.forceShare) args.push('-U');
  if (options.imageOptions) args.push('--image-opts', imageOpts(path, options.format));
  else args.push('-f', options.format, path);
  const { stdout } = await runQemuImg(args, {
    limits: options.limits ?? CHECK_LIMITS,
    okExitCodes: [0, 2, 3],
  });
  return parseJson<CheckResult>(stdout, 'check');
}

/** Copies `source` into a new image (`-n` is not used: the target is created by qemu-img). */
export async function convertImage(options: {
  source: string;
  sourceFormat: ImageFormat;
  target: string;
  targetFormat: ImageFormat;
  preallocation?: Preallocation;
  /** Skip zeroed areas in the target (sparse copy); default true. */
  sparse?: boolean;
  forceShare?: boolean;
  limits?: QemuImgLimits;
}): Promise<void> {
  const args = ['convert', '-q', '-f', options.sourceFormat, '-O', options.targetFormat];
  if (options.forceShare) args.push('-U');
  if (options.sparse === false) args.push('-S', '0');
  if (options.preallocation) args.push('-o', `preallocation=${options.preallocation}`);
  args.push(options.source, options.target);
  await runQemuImg(args, { limits: options.limits ?? CONVERT_LIMITS });
}

/** Grows (or, with `shrink`, shrinks) an image's virtual size. Shrinking loses the data past the end. */
export async function resizeImage(
  path: string,
  options: {
    format: ImageFormat;
    sizeBytes: number;
    shrink?: boolean;
    preallocation?: Preallocation;
    /** An encrypted qcow2: the 0600 file holding its key (qemu-img must open the LUKS header). */
    secretFile?: string;
  },
): Promise<void> {
  const args = ['resize', '-q'];
  if (options.secretFile) {
    args.push('--object', `secret,id=vireo-sec0,format=raw,file=${escapeOptValue(options.secretFile)}`);
  }
  if (options.shrink) args.push('--shrink');
  if (options.preallocation) args.push(`--preallocation=${options.preallocation}`);
  if (options.secretFile) {
    args.push('--image-opts', imageOpts(path, options.format, ['encrypt.key-secret=vireo-sec0']));
  } else args.push('-f', options.format, path);
  args.push(String(options.sizeBytes));
  await runQemuImg(args);
}
