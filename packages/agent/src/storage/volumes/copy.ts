import { type ChildProcess, spawn } from 'node:child_process';
import { CONVERT_LIMITS, type ImageFormat, type Preallocation, type QemuImgLimits } from '../qemu-img';
import { AgentError } from '../../util/errors';

/** `qemu-img convert -p` prints `    (12.34/100%)` followed by `\r` as it goes. */
const PROGRESS = /\((\d{1,3}(?:\.\d+)?)\/100%\)/g;

/** The last progress figure (0..1) in a chunk of `qemu-img -p` output, if any. */
export function parseConvertProgress(chunk: string): number | undefined {
  let last: number | undefined;
  for (const m of chunk.matchAll(PROGRESS)) last = Math.min(1, Number(m[1]) / 100);
  return last;
}

export interface ConvertJob {
  /** Resolves when the copy is complete; rejects with `action_cancelled` after `cancel()`. */
  done: Promise<void>;
  cancel(): void;
}

/**
 * Runs `qemu-img convert -p` under the same prlimit limits as every other qemu-img run, reporting
 * progress as it parses it. The target must not exist (qemu-img creates it). The caller removes a
 * partial target when `done` rejects.
 */
export function startConvert(options: {
  source: string;
  sourceFormat: ImageFormat;
  target: string;
  targetFormat: ImageFormat;
  preallocation?: Preallocation;
  /**
   * `--object` values (secrets, by file) the source or target options name. Only ids and file
   * paths: key material never reaches argv.
   */
  objects?: string[];
  /** Open the source with these `--image-opts` (it names the file itself) instead of `-f FORMAT PATH`. */
  sourceImageOpts?: string;
  /** More `-o` creation options for the target (e.g. `encrypt.*`). */
  targetOptions?: string[];
  onProgress(progress: number): void;
  limits?: QemuImgLimits;
}): ConvertJob {
  const limits = options.limits ?? CONVERT_LIMITS;
  const args = ['convert', '-p'];
  for (const o of options.objects ?? []) args.push('--object', o);
  if (options.sourceImageOpts === undefined) args.push('-f', options.sourceFormat);
  else args.push('--image-opts');
  args.push('-O', options.targetFormat);
  const create = [...(options.targetOptions ?? [])];
  if (options.preallocation && options.preallocation !== 'off') {
    create.unshift(`preallocation=${options.preallocation}`);
  }
  if (create.length) args.push('-o', create.join(','));
  args.push(options.sourceImageOpts ?? options.source, options.target);
  const argv = [`--cpu=${limits.cpuSeconds}`, `--as=${limits.memoryBytes}`, '--', 'qemu-img', ...args];
  let child: ChildProcess | undefined;
  let cancelled = false;
  const done = new Promise<void>((resolve, reject) => {
    child = spawn('prlimit', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child?.kill('SIGKILL');
    }, limits.timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const p = parseConvertProgress(chunk);
      if (p !== undefined) options.onProgress(p);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 16_384) stderr += chunk;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new AgentError('internal_error', `cannot run qemu-img convert: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (cancelled) reject(new AgentError('action_cancelled', 'the copy was cancelled'));
      else if (timedOut)
        reject(new AgentError('qemu_failed', `qemu-img convert took longer than ${limits.timeoutMs} ms`));
      else if (code === 0) resolve();
      else {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        const code2 = /lock/i.test(stderr) ? 'volume_in_use' : 'qemu_failed';
        reject(
          new AgentError(code2, `qemu-img convert failed (${why}): ${stderr.trim()}`, {
            details: { exit_code: code, signal, stderr: stderr.trim() },
          }),
        );
      }
    });
  });
  return {
    done,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      child?.kill('SIGKILL');
    },
  };
}
