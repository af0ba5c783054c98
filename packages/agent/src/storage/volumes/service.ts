import { rm, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import type {
  AgentEventName,
  AgentEventParams,
  VolumeCopyParams,
  VolumeCreateParams,
  VolumeDeleteParams,
  VolumeDeleteResult,
  VolumeInfo,
  VolumeInfoParams,
  VolumeResizeParams,
  VolumeSourceEncryption,
} from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError, toAgentError } from '../../util/errors';
import { StorageError } from '../errors';
import {
  createImage,
  createOverlay,
  escapeOptValue as esc,
  type ImageFormat,
  imageInfo,
  imageOpts,
  isLuksBenchmarkFlake,
  LUKS_CREATE_ATTEMPTS,
  resizeImage,
} from '../qemu-img';
import { type ConvertJob, startConvert } from './copy';
import {
  isWrongKeyFailure,
  LUKS_ITER_TIME_MS,
  luksCreateOptions,
  withSecretFile,
  writeSecretFiles,
} from './encryption';
import { DomainLayout, type DomainRootResolver, idSegment } from './layout';

type Emit = <E extends AgentEventName>(event: E, params: AgentEventParams<E>) => void;

/** At most one `job.progress` event per this many ms (plus the final one). */
const PROGRESS_INTERVAL_MS = 250;

/** A qemu-img write-lock failure means a running QEMU holds the image. */
function mapLockFailure(err: unknown, what: string): unknown {
  if (err instanceof StorageError && /lock/i.test(String(err.details.stderr ?? ''))) {
    return new AgentError('volume_in_use', `${what}: a running VM holds the volume`, { cause: err });
  }
  return err;
}

/**
 * The `volume.*` methods: disks' images inside active storage domains, addressed by ids. Every path
 * is derived here from the domain's root and re-checked after resolving symlinks (`DomainLayout`).
 */
export class VolumeService {
  private readonly jobs = new Map<string, ConvertJob>();

  constructor(
    private readonly resolveRoot: DomainRootResolver,
    private readonly emit: Emit,
    private readonly log: Logger,
    /** Where disk keys are written (0600, removed right after use) for qemu-img to read. */
    private readonly secretsDir: string = join(tmpdir(), 'vireo-agent-secrets'),
  ) {}

  private layout(domainId: string): Promise<DomainLayout> {
    return DomainLayout.open(this.resolveRoot, domainId);
  }

  private async describe(
    layout: DomainLayout,
    ref: { disk_id: string; volume_id: string },
    format: ImageFormat,
  ): Promise<VolumeInfo> {
    const path = await layout.volume(ref.disk_id, ref.volume_id);
    // -U: a running VM may hold the volume; info only reads metadata.
    const info = await imageInfo(path, { format, forceShare: true });
    return {
      domain_id: layout.domainId,
      disk_id: ref.disk_id.toLowerCase(),
      volume_id: ref.volume_id.toLowerCase(),
      path,
      format,
      virtual_size: info['virtual-size'],
      actual_size: info['actual-size'] ?? 0,
      backing: info['backing-filename'] ?? null,
    };
  }

  async create(p: VolumeCreateParams): Promise<VolumeInfo> {
    const layout = await this.layout(p.domain_id);
    if (p.format === 'raw' && p.preallocation === 'metadata') {
      throw new AgentError('invalid_params', 'raw volumes have no metadata to preallocate', {
        details: { preallocation: p.preallocation },
      });
    }
    let backingPath: string | undefined;
    if (p.backing) {
      if (p.format !== 'qcow2')
        throw new AgentError('invalid_params', 'only qcow2 volumes can have a backing volume');
      backingPath = await layout.volume(p.backing.disk_id, p.backing.volume_id);
    } else if (p.size_bytes === undefined) {
      throw new AgentError('invalid_params', 'size_bytes is required without a backing volume');
    }
    if (p.encryption && p.format !== 'qcow2') {
      throw new AgentError('invalid_params', 'only qcow2 volumes can be encrypted');
    }
    const path = await layout.newVolume(p.disk_id, p.volume_id);
    try {
      if (backingPath && p.backing) {
        const backing = p.backing;
        // Relative, so the domain still works mounted elsewhere or imported by another engine.
        const overlay = (secretFile?: string) =>
          createOverlay({
            path,
            backingPath: relative(dirname(path), backingPath),
            backingFormat: backing.format,
            ...(p.size_bytes === undefined ? {} : { sizeBytes: p.size_bytes }),
            ...(secretFile ? { encryption: { secretFile, iterTimeMs: LUKS_ITER_TIME_MS } } : {}),
          });
        if (p.encryption) await withSecretFile(this.secretsDir, p.encryption.secret, overlay);
        else await overlay();
      } else {
        const create = (secretFile?: string) =>
          createImage({
            path,
            format: p.format,
            sizeBytes: p.size_bytes as number,
            ...(p.preallocation && p.preallocation !== 'off' ? { preallocation: p.preallocation } : {}),
            ...(secretFile ? { encryption: { secretFile, iterTimeMs: LUKS_ITER_TIME_MS } } : {}),
          });
        if (p.encryption) await withSecretFile(this.secretsDir, p.encryption.secret, create);
        else await create();
      }
      return await this.describe(layout, p, p.format);
    } catch (err) {
      // A half-made volume must not block a retry with the same id.
      await unlink(path).catch(() => undefined);
      throw toAgentError(err, `creating volume ${p.volume_id}`);
    }
  }

  async info(p: VolumeInfoParams): Promise<VolumeInfo> {
    return this.describe(await this.layout(p.domain_id), p, p.format);
  }

  async delete(p: VolumeDeleteParams): Promise<VolumeDeleteResult> {
    const layout = await this.layout(p.domain_id);
    const dir = await layout.diskDir(p.disk_id);
    if (!dir) return { deleted: false };
    if (p.volume_id === undefined) {
      // The directory was checked to be a real directory inside the domain; rm does not follow
      // symlinks inside it, so nothing outside can be removed.
      await rm(dir, { recursive: true, force: true });
      return { deleted: true };
    }
    let path: string;
    try {
      path = await layout.volume(p.disk_id, p.volume_id);
    } catch (err) {
      if (err instanceof AgentError && err.code === 'image_not_found') return { deleted: false };
      throw err;
    }
    await unlink(path);
    // The last volume gone: drop the empty disk directory too.
    await rmdir(dir).catch(() => undefined);
    return { deleted: true };
  }

  async resize(p: VolumeResizeParams): Promise<VolumeInfo> {
    const layout = await this.layout(p.domain_id);
    const before = await this.describe(layout, p, p.format);
    if (p.size_bytes < before.virtual_size) {
      throw new AgentError(
        'invalid_params',
        'volumes only grow: the new size is smaller than the current one',
        {
          details: { size_bytes: p.size_bytes, virtual_size: before.virtual_size },
        },
      );
    }
    if (p.size_bytes > before.virtual_size) {
      // Without -U: qemu-img takes the write lock, so a volume a running VM holds is refused.
      const grow = (secretFile?: string) =>
        resizeImage(before.path, {
          format: p.format,
          sizeBytes: p.size_bytes,
          ...(secretFile ? { secretFile } : {}),
        });
      await (p.encryption ? withSecretFile(this.secretsDir, p.encryption.secret, grow) : grow()).catch(
        (err: unknown) => {
          throw toAgentError(mapLockFailure(err, `resizing volume ${p.volume_id}`));
        },
      );
    }
    return this.describe(layout, p, p.format);
  }

  /**
   * Copies a volume (its backing chain collapsed) to a new volume, possibly in another domain and
   * format, emitting `job.progress`. The partial target is removed on failure or cancel.
   */
  async copy(p: VolumeCopyParams): Promise<VolumeInfo> {
    const jobId = idSegment(p.job_id, 'job_id');
    if (this.jobs.has(jobId)) throw new AgentError('invalid_params', `job ${jobId} is already running`);
    const from = await this.layout(p.from.domain_id);
    const to = await this.layout(p.to.domain_id);
    const source = await from.volume(p.from.disk_id, p.from.volume_id);
    const target = await to.newVolume(p.to.disk_id, p.to.volume_id);
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
    if (p.target_encryption && p.to.format !== 'qcow2') {
      throw new AgentError('invalid_params', 'only a qcow2 target can be encrypted');
    }
    // Keys go to 0600 files for this copy only; argv names the files, never the keys.
    const secrets: Record<string, string> = {};
    if (p.source_encryption) {
      secrets.src = p.source_encryption.secret;
      if (p.source_encryption.base_secret) secrets.base = p.source_encryption.base_secret;
    }
    if (p.target_encryption) secrets.dst = p.target_encryption.secret;
    const keyFiles = Object.keys(secrets).length
      ? await writeSecretFiles(this.secretsDir, secrets)
      : undefined;
    const cancelled = { now: false };
    let current: ConvertJob | undefined;
    const done = (async () => {
      const encryptedSource = p.source_encryption
        ? await sourceChainOpts(source, p.from.format, p.source_encryption)
        : undefined;
      const objects = Object.entries(keyFiles?.files ?? {}).map(
        ([id, file]) => `secret,id=vireo-${id},format=raw,file=${esc(file)}`,
      );
      // The PBKDF calibration of a new LUKS header sometimes gives up at once: try again then.
      for (let attempt = 1; ; attempt++) {
        if (cancelled.now) throw new AgentError('action_cancelled', 'the copy was cancelled');
        const job = startConvert({
          source,
          sourceFormat: p.from.format,
          target,
          targetFormat: p.to.format,
          ...(p.preallocation ? { preallocation: p.preallocation } : {}),
          objects,
          ...(encryptedSource ? { sourceImageOpts: encryptedSource } : {}),
          ...(p.target_encryption
            ? {
                targetOptions: luksCreateOptions('vireo-dst'),
              }
            : {}),
          onProgress: (progress) => {
            const now = Date.now();
            if (progress <= last || (now - lastAt < PROGRESS_INTERVAL_MS && progress < 1)) return;
            last = progress;
            lastAt = now;
            report('running', progress);
          },
        });
        current = job;
        try {
          await job.done;
          return;
        } catch (err) {
          if (!p.target_encryption || !isLuksBenchmarkFlake(err) || attempt >= LUKS_CREATE_ATTEMPTS)
            throw err;
          this.log.debug({ job_id: jobId, attempt }, 'LUKS calibration gave up; copying again');
          await unlink(target).catch(() => undefined);
        }
      }
    })();
    // A cancel before the first convert started still ends the copy.
    this.jobs.set(jobId, {
      done,
      cancel: () => {
        cancelled.now = true;
        current?.cancel();
      },
    });
    try {
      await done;
      const info = await this.describe(to, p.to, p.to.format);
      report('succeeded', 1);
      return info;
    } catch (err) {
      let error = toAgentError(mapLockFailure(err, `copying volume ${p.from.volume_id}`));
      if (isWrongKeyFailure(err)) {
        error = new AgentError('encryption_key_invalid', 'a key does not open the source volume', {
          cause: err,
        });
      }
      await unlink(target).catch(() => undefined);
      await rmdir(dirname(target)).catch(() => undefined);
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

/**
 * `--image-opts` that open an encrypted chain: `encrypt.key-secret` on every encrypted layer,
 * `vireo-src` for those in the top volume's own disk directory, `vireo-base` for those of another
 * disk (a template base). The layers come from `qemu-img info --backing-chain`, which reads only
 * headers (no key needed); the chain is the agent's own domain volumes.
 */
export async function sourceChainOpts(
  top: string,
  format: ImageFormat,
  keys: VolumeSourceEncryption,
): Promise<string> {
  const chain = await imageInfo(top, { format, backingChain: true, forceShare: true });
  const ownDir = dirname(top);
  const extra: string[] = [];
  for (const [depth, layer] of chain.entries()) {
    if (!layer.encrypted) continue;
    const own = dirname(resolve(ownDir, layer.filename)) === ownDir;
    if (!own && !keys.base_secret) {
      throw new AgentError('invalid_params', 'the source chain has an encrypted base but no base_secret', {
        details: { depth },
      });
    }
    extra.push(`${'backing.'.repeat(depth)}encrypt.key-secret=${own ? 'vireo-src' : 'vireo-base'}`);
  }
  return imageOpts(top, format, extra);
}
