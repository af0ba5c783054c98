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
import { createImage, createOverlay, type ImageFormat, imageInfo, imageOpts, resizeImage } from '../qemu-img';
import { CopyJobs } from './copy';
import { LUKS_ITER_TIME_MS, withSecretFile } from './encryption';
import { DomainLayout, type DomainRootResolver } from './layout';

type Emit = <E extends AgentEventName>(event: E, params: AgentEventParams<E>) => void;

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
  private readonly copies: CopyJobs;

  constructor(
    private readonly resolveRoot: DomainRootResolver,
    emit: Emit,
    log: Logger,
    /** Where disk keys are written (0600, removed right after use) for qemu-img to read. */
    private readonly secretsDir: string = join(tmpdir(), 'vireo-agent-secrets'),
  ) {
    this.copies = new CopyJobs(emit, log, secretsDir);
  }

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
    this.copies.claim(p.job_id);
    const from = await this.layout(p.from.domain_id);
    const to = await this.layout(p.to.domain_id);
    const source = await from.volume(p.from.disk_id, p.from.volume_id);
    const target = await to.newVolume(p.to.disk_id, p.to.volume_id);
    return this.copies.run({
      params: p,
      from: { image: source, encryptedOpts: (keys) => sourceChainOpts(source, p.from.format, keys) },
      to: {
        image: target,
        discard: () => unlink(target).catch(() => undefined),
        remove: async () => {
          await unlink(target).catch(() => undefined);
          await rmdir(dirname(target)).catch(() => undefined);
        },
        describe: () => this.describe(to, p.to, p.to.format),
      },
      mapError: (err) => mapLockFailure(err, `copying volume ${p.from.volume_id}`),
    });
  }

  /** Stops a running copy; it fails with `action_cancelled` and its partial target is removed. */
  cancel(jobId: string): { cancelled: boolean } {
    return this.copies.cancel(jobId);
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
