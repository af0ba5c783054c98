import { rmdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { VolumeCopyParams, VolumeEndpoint, VolumeInfo } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError, toAgentError } from '../../util/errors';
import type { VmRuntime } from '../../vm/runtime';
import type { UserspaceNfsDomain } from '../domains/service';
import { imageInfo, isLuksBenchmarkFlake, LUKS_CREATE_ATTEMPTS } from '../qemu-img';
import { type ConvertJob, startConvert } from '../volumes/copy';
import { isWrongKeyFailure, luksCreateOptions, writeSecretFiles } from '../volumes/encryption';
import { DomainLayout, type DomainRootResolver, idSegment } from '../volumes/layout';
import { sourceChainOpts } from '../volumes/service';
import { withNfs } from './client';
import { nfsUrl } from './volumes';

/**
 * `volume.copy` when either side is a userspace-mode nfs domain (ADR 027): one `qemu-img convert`
 * whose nfs side is an `nfs://` URL (or, for an encrypted source, `--image-opts` naming the nfs
 * protocol node), the local side the usual domain path. Progress, cancel and the removal of a
 * partial target work as for local copies. The nfs driver takes no image lock, so a copy of an
 * nfs volume a running VM writes is not refused here as a local one would be (ADR 027).
 */

const PROGRESS_INTERVAL_MS = 250;

interface Side {
  /** What qemu-img opens or creates. */
  image: string;
  /** `--image-opts` for an encrypted nfs source. */
  encryptedOpts?: (keyId: string) => string;
  remove(): Promise<void>;
  describe(): Promise<VolumeInfo>;
}

export interface UserspaceCopyDeps {
  domain(id: string): UserspaceNfsDomain | undefined;
  /** The coded refusal for what this mode cannot do. */
  unavailable(domainId: string, feature: string): AgentError;
  /** Roots of the other (local) domains. */
  resolveRoot: DomainRootResolver;
  emit: VmRuntime['emit'];
  log: Logger;
  secretsDir: string;
}

function nfsOpts(d: UserspaceNfsDomain, rel: string, format: string, keyId: string): string {
  const path = new URL(nfsUrl(d.location, rel)).pathname;
  const host = d.location.server.replace(/^\[(.*)\]$/, '$1');
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host)) {
    throw new AgentError(
      'invalid_params',
      'the NFS server name has characters qemu-img options cannot carry',
    );
  }
  return [
    `driver=${format}`,
    'file.driver=nfs',
    'file.server.type=inet',
    `file.server.host=${host}`,
    `file.path=${path}`,
    `encrypt.key-secret=${keyId}`,
  ].join(',');
}

/**
 * libnfs's MOUNT of a just-made directory is sometimes refused (`MNT3ERR_ACCES`) by the server
 * while a later one succeeds (seen with nfs-ganesha): worth another try, nothing was written.
 */
function isTransientMountRefusal(err: unknown): boolean {
  return /Failed to mount nfs share: .*MNT3ERR_ACCES/.test(String((err as Error)?.message ?? ''));
}

export class UserspaceCopies {
  private readonly jobs = new Map<string, { cancel(): void }>();

  constructor(private readonly deps: UserspaceCopyDeps) {}

  private async nfsSide(d: UserspaceNfsDomain, e: VolumeEndpoint, role: 'from' | 'to'): Promise<Side> {
    const disk = idSegment(e.disk_id, 'disk_id');
    const vol = idSegment(e.volume_id, 'volume_id');
    const diskRel = `${d.domainId}/images/${disk}`;
    const volRel = `${diskRel}/${vol}`;
    const url = nfsUrl(d.location, volRel);
    const loc = { server: d.location.server, export: d.location.export };
    const ids = { domain_id: d.domainId, disk_id: disk, volume_id: vol };
    const describe = async (): Promise<VolumeInfo> => {
      const info = await imageInfo(url, { format: e.format, forceShare: true });
      return {
        ...ids,
        path: `${d.root}/images/${disk}/${vol}`,
        format: e.format,
        virtual_size: info['virtual-size'],
        actual_size: info['actual-size'] ?? 0,
        backing: info['backing-filename'] ?? null,
      };
    };
    if (role === 'from') {
      const st = await withNfs(loc, (c) => c.stat(volRel));
      if (st?.type !== 'file') {
        throw new AgentError('image_not_found', `volume ${vol} of disk ${disk} does not exist`, {
          details: ids,
        });
      }
      // This mode makes no overlays: a backing file here was planted and could name a host file.
      if ((await describe()).backing !== null) {
        throw new AgentError('image_invalid', `volume ${vol} has a backing file`, { details: ids });
      }
    } else {
      await withNfs(loc, async (c) => {
        await c.mkdir(diskRel, 0o750, true);
        if (await c.stat(volRel)) {
          throw new AgentError('image_exists', `volume ${vol} of disk ${disk} already exists`, {
            details: ids,
          });
        }
      });
    }
    return {
      image: url,
      encryptedOpts: (keyId) => nfsOpts(d, volRel, e.format, keyId),
      remove: () =>
        withNfs(loc, async (c) => {
          await c.remove(volRel);
          if ((await c.readdir(diskRel)).length === 0) await c.rmdir(diskRel);
        }),
      describe,
    };
  }

  private async localSide(e: VolumeEndpoint, role: 'from' | 'to'): Promise<Side> {
    const layout = await DomainLayout.open(this.deps.resolveRoot, e.domain_id);
    const path =
      role === 'from'
        ? await layout.volume(e.disk_id, e.volume_id)
        : await layout.newVolume(e.disk_id, e.volume_id);
    return {
      image: path,
      remove: async () => {
        await unlink(path).catch(() => undefined);
        await rmdir(dirname(path)).catch(() => undefined);
      },
      describe: async () => {
        const info = await imageInfo(path, { format: e.format, forceShare: true });
        return {
          domain_id: e.domain_id,
          disk_id: e.disk_id,
          volume_id: e.volume_id,
          path,
          format: e.format,
          virtual_size: info['virtual-size'],
          actual_size: info['actual-size'] ?? 0,
          backing: info['backing-filename'] ?? null,
        };
      },
    };
  }

  private side(e: VolumeEndpoint, role: 'from' | 'to'): Promise<Side> {
    const d = this.deps.domain(e.domain_id);
    return d ? this.nfsSide(d, e, role) : this.localSide(e, role);
  }

  /** True when this copy has a userspace-mode nfs side (the caller routes it here). */
  handles(p: VolumeCopyParams): boolean {
    return !!(this.deps.domain(p.from.domain_id) || this.deps.domain(p.to.domain_id));
  }

  async copy(p: VolumeCopyParams): Promise<VolumeInfo> {
    const jobId = idSegment(p.job_id, 'job_id');
    if (this.jobs.has(jobId)) throw new AgentError('invalid_params', `job ${jobId} is already running`);
    if (p.target_encryption && p.to.format !== 'qcow2') {
      throw new AgentError('invalid_params', 'only a qcow2 target can be encrypted');
    }
    // `qemu-img convert` writing a new LUKS target through the nfs driver hung or had its MOUNT
    // refused in a share of test runs: refused until that is understood (ADR 027).
    if (p.target_encryption && this.deps.domain(p.to.domain_id)) {
      throw this.deps.unavailable(p.to.domain_id, 'an encrypted copy or move onto the domain');
    }
    const from = await this.side(p.from, 'from');
    const fromNfs = !!this.deps.domain(p.from.domain_id);
    const to = await this.side(p.to, 'to');
    const report = (state: 'running' | 'succeeded' | 'failed', progress: number, error?: AgentError) =>
      this.deps.emit('job.progress', {
        job_id: jobId,
        kind: 'volume.copy',
        state,
        progress,
        ...(error ? { error: { code: error.code, message: error.message } } : {}),
      });
    let last = 0;
    let lastAt = 0;
    const cancelled = { now: false };
    let current: ConvertJob | undefined;
    this.jobs.set(jobId, {
      cancel: () => {
        cancelled.now = true;
        current?.cancel();
      },
    });
    // Keys go to 0600 files for this copy only; argv names the files, never the keys.
    const secrets: Record<string, string> = {};
    if (p.source_encryption) {
      secrets.src = p.source_encryption.secret;
      if (p.source_encryption.base_secret) secrets.base = p.source_encryption.base_secret;
    }
    if (p.target_encryption) secrets.dst = p.target_encryption.secret;
    let keyFiles: Awaited<ReturnType<typeof writeSecretFiles>> | undefined;
    try {
      keyFiles = Object.keys(secrets).length
        ? await writeSecretFiles(this.deps.secretsDir, secrets)
        : undefined;
      const objects = Object.entries(keyFiles?.files ?? {}).map(
        ([id, file]) => `secret,id=vireo-${id},format=raw,file=${file.replaceAll(',', ',,')}`,
      );
      let sourceImageOpts: string | undefined;
      if (p.source_encryption) {
        sourceImageOpts =
          fromNfs && from.encryptedOpts
            ? from.encryptedOpts('vireo-src')
            : await sourceChainOpts(from.image, p.from.format, p.source_encryption);
      }
      for (let attempt = 1; ; attempt++) {
        if (cancelled.now) throw new AgentError('action_cancelled', 'the copy was cancelled');
        current = startConvert({
          source: from.image,
          sourceFormat: p.from.format,
          target: to.image,
          targetFormat: p.to.format,
          ...(p.preallocation ? { preallocation: p.preallocation } : {}),
          objects,
          ...(sourceImageOpts ? { sourceImageOpts } : {}),
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
        try {
          await current.done;
          break;
        } catch (err) {
          const again = (p.target_encryption && isLuksBenchmarkFlake(err)) || isTransientMountRefusal(err);
          if (!again || attempt >= LUKS_CREATE_ATTEMPTS) throw err;
          await to.remove().catch(() => undefined);
          if (isTransientMountRefusal(err)) await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      const info = await to.describe();
      report('succeeded', 1);
      return info;
    } catch (err) {
      const error = isWrongKeyFailure(err)
        ? new AgentError('encryption_key_invalid', 'a key does not open the source volume', { cause: err })
        : toAgentError(err, `copying volume ${p.from.volume_id}`);
      await to.remove().catch(() => undefined);
      report('failed', last, error);
      this.deps.log.warn({ err: error, job_id: jobId }, 'volume copy failed');
      throw error;
    } finally {
      this.jobs.delete(jobId);
      await keyFiles?.remove();
    }
  }

  /** Stops a running copy of this module; false when it knows no such job. */
  cancel(jobId: string): { cancelled: boolean } {
    const job = this.jobs.get(jobId.toLowerCase());
    if (!job) return { cancelled: false };
    job.cancel();
    return { cancelled: true };
  }
}
