import { type ChildProcess, spawn } from 'node:child_process';
import type {
  AgentEventName,
  AgentEventParams,
  VolumeCopyParams,
  VolumeInfo,
  VolumeSourceEncryption,
} from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError, toAgentError } from '../../util/errors';
import {
  CONVERT_LIMITS,
  createImage,
  escapeOptValue as esc,
  type ImageFormat,
  imageInfo,
  isLuksBenchmarkFlake,
  LUKS_CREATE_ATTEMPTS,
  type Preallocation,
  type QemuImgLimits,
  qemuImgEnv,
} from '../qemu-img';
import { isWrongKeyFailure, LUKS_ITER_TIME_MS, luksCreateOptions, writeSecretFiles } from './encryption';
import { idSegment } from './layout';

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
  /**
   * Write into an existing, all-zero target opened with these `--target-image-opts` (`-n
   * --target-is-zero`): the target was made beforehand, e.g. an encrypted one whose options name
   * its key. `targetFormat`, `preallocation` and `targetOptions` then do not apply.
   */
  targetImageOpts?: string;
  onProgress(progress: number): void;
  limits?: QemuImgLimits;
}): ConvertJob {
  const limits = options.limits ?? CONVERT_LIMITS;
  const args = ['convert', '-p'];
  for (const o of options.objects ?? []) args.push('--object', o);
  if (options.sourceImageOpts === undefined) args.push('-f', options.sourceFormat);
  else args.push('--image-opts');
  if (options.targetImageOpts !== undefined) {
    args.push('-n', '--target-is-zero', '--target-image-opts');
  } else {
    args.push('-O', options.targetFormat);
    const create = [...(options.targetOptions ?? [])];
    if (options.preallocation && options.preallocation !== 'off') {
      create.unshift(`preallocation=${options.preallocation}`);
    }
    if (create.length) args.push('-o', create.join(','));
  }
  args.push(options.sourceImageOpts ?? options.source, options.targetImageOpts ?? options.target);
  const argv = [`--cpu=${limits.cpuSeconds}`, `--as=${limits.memoryBytes}`, '--', 'qemu-img', ...args];
  let child: ChildProcess | undefined;
  let cancelled = false;
  const done = new Promise<void>((resolve, reject) => {
    child = spawn('prlimit', argv, { stdio: ['ignore', 'pipe', 'pipe'], env: qemuImgEnv() });
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

/** At most one `job.progress` event per this many ms (plus the final one). */
const PROGRESS_INTERVAL_MS = 250;

/** The source of a copy, as {@link CopyJobs} sees it. */
export interface CopySource {
  /** What qemu-img opens with `-f FORMAT` (a path or an `nfs://` URL). */
  image: string;
  /**
   * `--image-opts` that open an encrypted source with the secrets `vireo-src` (its own layers) and
   * `vireo-base` (a template base's).
   */
  encryptedOpts(keys: VolumeSourceEncryption): Promise<string>;
}

/** The target of a copy: not there yet when the copy starts; the runner makes it. */
export interface CopyTarget {
  /** What qemu-img creates (a path or an `nfs://` URL). */
  image: string;
  /**
   * How an encrypted target is made. `convert` (the default): `qemu-img convert` creates it with
   * the LUKS `-o` options. `precreate`: `qemu-img create` makes it first (with the LUKS slot
   * limiter and the calibration retry of every other LUKS creation), then `convert -n` fills it
   * through these `--image-opts`, which name the key secret `vireo-dst` (nfs targets, ADR 027).
   */
  encryptedOpts?: (secretId: string) => string;
  /** Removes a failed run's partial file before another run (the disk directory stays). */
  discard(): Promise<void>;
  /** Removes what a failed or cancelled copy left (the file and an emptied disk directory). */
  remove(): Promise<void>;
  /** The finished volume. */
  describe(): Promise<VolumeInfo>;
}

export interface CopyJobSpec {
  params: VolumeCopyParams;
  from: CopySource;
  to: CopyTarget;
  /** A failure worth one more run after removing the partial target (besides the LUKS calibration flake). */
  retryable?(err: unknown): boolean;
  /** Maps a run's failure to the error reported (e.g. a lock failure to `volume_in_use`). */
  mapError?(err: unknown): unknown;
}

type Emit = <E extends AgentEventName>(event: E, params: AgentEventParams<E>) => void;

/**
 * The one copy-job runner of `volume.copy`, whatever the sides are (local directories, userspace
 * nfs domains): job ids, `job.progress` events (throttled), cancel (also before qemu-img started),
 * keys in 0600 files for the run only, the retries, the removal of a partial target on failure or
 * cancel, and the coded error. The sides say where the images are and how they are opened.
 */
export class CopyJobs {
  private readonly jobs = new Map<string, { cancel(): void }>();

  constructor(
    private readonly emit: Emit,
    private readonly log: Logger,
    /** Where disk keys are written (0600, removed right after use) for qemu-img to read. */
    private readonly secretsDir: string,
  ) {}

  /** Refuses a job id already running (before the caller makes anything). */
  claim(jobId: string): string {
    const id = idSegment(jobId, 'job_id');
    if (this.jobs.has(id)) throw new AgentError('invalid_params', `job ${id} is already running`);
    return id;
  }

  /** Runs one copy to the end; the target is gone again when this throws. */
  async run(spec: CopyJobSpec): Promise<VolumeInfo> {
    const p = spec.params;
    const jobId = this.claim(p.job_id);
    const { from, to } = spec;
    let last = 0;
    let lastAt = 0;
    const report = (state: 'running' | 'succeeded' | 'failed', progress: number, error?: AgentError) =>
      this.emit('job.progress', {
        job_id: jobId,
        kind: 'volume.copy',
        state,
        progress,
        ...(error ? { error: { code: error.code, message: error.message } } : {}),
      });
    const cancelled = { now: false };
    let current: ConvertJob | undefined;
    // Registered before any await: a cancel before the first convert started still ends the copy.
    this.jobs.set(jobId, {
      cancel: () => {
        cancelled.now = true;
        current?.cancel();
      },
    });
    const secrets: Record<string, string> = {};
    if (p.source_encryption) {
      secrets.src = p.source_encryption.secret;
      if (p.source_encryption.base_secret) secrets.base = p.source_encryption.base_secret;
    }
    if (p.target_encryption) secrets.dst = p.target_encryption.secret;
    let keyFiles: Awaited<ReturnType<typeof writeSecretFiles>> | undefined;
    try {
      if (p.target_encryption && p.to.format !== 'qcow2') {
        throw new AgentError('invalid_params', 'only a qcow2 target can be encrypted');
      }
      // Keys go to 0600 files for this copy only; argv names the files, never the keys.
      keyFiles = Object.keys(secrets).length ? await writeSecretFiles(this.secretsDir, secrets) : undefined;
      const objects = Object.entries(keyFiles?.files ?? {}).map(
        ([id, file]) => `secret,id=vireo-${id},format=raw,file=${esc(file)}`,
      );
      const sourceImageOpts = p.source_encryption ? await from.encryptedOpts(p.source_encryption) : undefined;
      const precreate = p.target_encryption && to.encryptedOpts ? to.encryptedOpts : undefined;
      for (let attempt = 1; ; attempt++) {
        if (cancelled.now) throw new AgentError('action_cancelled', 'the copy was cancelled');
        try {
          if (precreate) {
            // The header only: no key needed to read the size of an encrypted source.
            const size = (await imageInfo(from.image, { format: p.from.format, forceShare: true }))[
              'virtual-size'
            ];
            await createImage({
              path: to.image,
              format: 'qcow2',
              sizeBytes: size,
              ...(p.preallocation && p.preallocation !== 'off' ? { preallocation: p.preallocation } : {}),
              encryption: { secretFile: keyFiles?.files.dst as string, iterTimeMs: LUKS_ITER_TIME_MS },
            });
            if (cancelled.now) throw new AgentError('action_cancelled', 'the copy was cancelled');
          }
          current = startConvert({
            source: from.image,
            sourceFormat: p.from.format,
            target: to.image,
            targetFormat: p.to.format,
            ...(p.preallocation ? { preallocation: p.preallocation } : {}),
            objects,
            ...(sourceImageOpts ? { sourceImageOpts } : {}),
            ...(precreate
              ? { targetImageOpts: precreate('vireo-dst') }
              : p.target_encryption
                ? { targetOptions: luksCreateOptions('vireo-dst') }
                : {}),
            onProgress: (progress) => {
              const now = Date.now();
              if (progress <= last || (now - lastAt < PROGRESS_INTERVAL_MS && progress < 1)) return;
              last = progress;
              lastAt = now;
              report('running', progress);
            },
          });
          await current.done;
          break;
        } catch (err) {
          const flake = !!p.target_encryption && !precreate && isLuksBenchmarkFlake(err);
          const again = flake || !!spec.retryable?.(err);
          if (!again || attempt >= LUKS_CREATE_ATTEMPTS) throw err;
          this.log.debug({ job_id: jobId, attempt, err }, 'copy run failed in a way worth retrying');
          await to.discard().catch(() => undefined);
          if (!flake) await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      const info = await to.describe();
      report('succeeded', 1);
      return info;
    } catch (err) {
      const error = isWrongKeyFailure(err)
        ? new AgentError('encryption_key_invalid', 'a key does not open the source volume', { cause: err })
        : toAgentError(spec.mapError ? spec.mapError(err) : err, `copying volume ${p.from.volume_id}`);
      await to.remove().catch(() => undefined);
      report('failed', last, error);
      this.log.warn({ err: error, job_id: jobId }, 'volume copy failed');
      throw error;
    } finally {
      this.jobs.delete(jobId);
      await keyFiles?.remove();
    }
  }

  /** Stops a running copy; it fails with `action_cancelled` and its partial target is removed. */
  cancel(jobId: string): { cancelled: boolean } {
    const job = this.jobs.get(jobId.toLowerCase());
    if (!job) return { cancelled: false };
    job.cancel();
    return { cancelled: true };
  }
}
