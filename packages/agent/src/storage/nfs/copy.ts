import { rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { VolumeCopyParams, VolumeEndpoint, VolumeInfo } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError } from '../../util/errors';
import type { VmRuntime } from '../../vm/runtime';
import type { UserspaceNfsDomain } from '../domains/service';
import { imageInfo } from '../qemu-img';
import { CopyJobs, type CopySource, type CopyTarget } from '../volumes/copy';
import { DomainLayout, type DomainRootResolver, idSegment } from '../volumes/layout';
import { sourceChainOpts } from '../volumes/service';
import { walkNfsChain } from './chains';
import { withNfs } from './client';
import { stageNfsChain } from './staged-chain';
import { nfsImageOpts, nfsUrl } from './volumes';

/**
 * `volume.copy` when either side is a userspace-mode nfs domain (ADR 027): the sides for the one
 * copy runner ({@link CopyJobs}). An nfs side is its `nfs://` URL (or `--image-opts` naming the nfs
 * protocol node and the key, for an encrypted source or target), the local side the usual domain
 * path. An encrypted nfs target is made by `qemu-img create` first and filled by `convert -n`.
 * The nfs driver takes no image lock, so a copy of an nfs volume a running VM writes is not
 * refused here as a local one would be (ADR 027).
 */

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
  return nfsImageOpts(d.location, rel, format, [`encrypt.key-secret=${keyId}`]);
}

/**
 * libnfs's MOUNT of a just-made directory is sometimes refused (`MNT3ERR_ACCES`) by the server
 * while a later one succeeds (seen with nfs-ganesha): worth another try, nothing was written.
 */
export function isTransientMountRefusal(err: unknown): boolean {
  return /Failed to mount nfs share: .*MNT3ERR_ACCES/.test(String((err as Error)?.message ?? ''));
}

/** A copy source, with the staging directory to remove afterwards when it was staged. */
type StagedSource = CopySource & { cleanup?: () => Promise<void> };

export class UserspaceCopies {
  private readonly copies: CopyJobs;

  constructor(private readonly deps: UserspaceCopyDeps) {
    this.copies = new CopyJobs(deps.emit, deps.log, deps.secretsDir);
  }

  private async nfsSource(d: UserspaceNfsDomain, e: VolumeEndpoint): Promise<StagedSource> {
    const at = nfsVolume(d, e);
    const st = await withNfs(at.loc, (c) => c.stat(at.volRel));
    if (st?.type !== 'file') {
      throw new AgentError('image_not_found', `volume ${at.vol} of disk ${at.disk} does not exist`, {
        details: at.ids,
      });
    }
    // QEMU's nfs driver cannot resolve the relative backing names (ADR 027, decision 12): a chain
    // the walk accepts is staged verbatim into a private local directory laid out like the domain
    // and copied from there; anything else (an absolute or json: name, a name outside the layout)
    // is a planted image, refused as invalid by the walk.
    if ((await describeNfs(d, e, at)).backing !== null) {
      const staged = await withNfs(at.loc, async (c) => {
        const layers = await walkNfsChain(
          c,
          d.domainId,
          `images/${at.disk}/${at.vol}`,
          e.format,
          'volume.copy',
          (r) => `${d.root}/${r}`,
        );
        return stageNfsChain(c, d.domainId, layers, join(dirname(this.deps.secretsDir), 'nfs-chain-staging'));
      });
      return {
        image: staged.top,
        encryptedOpts: (keys) => sourceChainOpts(staged.top, e.format, keys),
        cleanup: staged.remove,
      };
    }
    return {
      image: at.url,
      encryptedOpts: async () => nfsOpts(d, at.volRel, e.format, 'vireo-src'),
    };
  }

  private async nfsTarget(d: UserspaceNfsDomain, e: VolumeEndpoint): Promise<CopyTarget> {
    const at = nfsVolume(d, e);
    await withNfs(at.loc, async (c) => {
      await c.mkdir(at.diskRel, 0o750, true);
      if (await c.stat(at.volRel)) {
        throw new AgentError('image_exists', `volume ${at.vol} of disk ${at.disk} already exists`, {
          details: at.ids,
        });
      }
    });
    return {
      image: at.url,
      // Made by `qemu-img create`, then filled by `convert -n` (ADR 027, "encrypted copies onto nfs").
      encryptedOpts: (keyId) => nfsOpts(d, at.volRel, e.format, keyId),
      discard: () => withNfs(at.loc, (c) => c.remove(at.volRel)).then(() => undefined),
      remove: () =>
        withNfs(at.loc, async (c) => {
          await c.remove(at.volRel);
          if ((await c.readdir(at.diskRel)).length === 0) await c.rmdir(at.diskRel);
        }),
      describe: () => describeNfs(d, e, at),
    };
  }

  private async localSource(e: VolumeEndpoint): Promise<CopySource> {
    const layout = await DomainLayout.open(this.deps.resolveRoot, e.domain_id);
    const path = await layout.volume(e.disk_id, e.volume_id);
    return { image: path, encryptedOpts: (keys) => sourceChainOpts(path, e.format, keys) };
  }

  private async localTarget(e: VolumeEndpoint): Promise<CopyTarget> {
    const layout = await DomainLayout.open(this.deps.resolveRoot, e.domain_id);
    const path = await layout.newVolume(e.disk_id, e.volume_id);
    return {
      image: path,
      discard: () => unlink(path).catch(() => undefined),
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

  /** True when this copy has a userspace-mode nfs side (the caller routes it here). */
  handles(p: VolumeCopyParams): boolean {
    return !!(this.deps.domain(p.from.domain_id) || this.deps.domain(p.to.domain_id));
  }

  async copy(p: VolumeCopyParams): Promise<VolumeInfo> {
    this.copies.claim(p.job_id);
    const fromNfs = this.deps.domain(p.from.domain_id);
    const toNfs = this.deps.domain(p.to.domain_id);
    const from: StagedSource = fromNfs
      ? await this.nfsSource(fromNfs, p.from)
      : await this.localSource(p.from);
    try {
      const to = toNfs ? await this.nfsTarget(toNfs, p.to) : await this.localTarget(p.to);
      return await this.copies.run({ params: p, from, to, retryable: isTransientMountRefusal });
    } finally {
      // A staged chain (decision 12) goes on success, failure and cancel alike.
      await from
        .cleanup?.()
        .catch((err) => this.deps.log.warn({ err }, 'removing a staged nfs chain failed'));
    }
  }

  /** Stops a running copy of this module; false when it knows no such job. */
  cancel(jobId: string): { cancelled: boolean } {
    return this.copies.cancel(jobId);
  }
}

interface NfsVolume {
  loc: { server: string; export: string };
  disk: string;
  vol: string;
  diskRel: string;
  volRel: string;
  url: string;
  ids: { domain_id: string; disk_id: string; volume_id: string };
}

function nfsVolume(d: UserspaceNfsDomain, e: VolumeEndpoint): NfsVolume {
  const disk = idSegment(e.disk_id, 'disk_id');
  const vol = idSegment(e.volume_id, 'volume_id');
  const diskRel = `${d.domainId}/images/${disk}`;
  const volRel = `${diskRel}/${vol}`;
  return {
    loc: { server: d.location.server, export: d.location.export },
    disk,
    vol,
    diskRel,
    volRel,
    url: nfsUrl(d.location, volRel),
    ids: { domain_id: d.domainId, disk_id: disk, volume_id: vol },
  };
}

async function describeNfs(d: UserspaceNfsDomain, e: VolumeEndpoint, at: NfsVolume): Promise<VolumeInfo> {
  const info = await imageInfo(at.url, { format: e.format, forceShare: true });
  return {
    ...at.ids,
    path: `${d.root}/images/${at.disk}/${at.vol}`,
    format: e.format,
    virtual_size: info['virtual-size'],
    actual_size: info['actual-size'] ?? 0,
    backing: info['backing-filename'] ?? null,
  };
}
