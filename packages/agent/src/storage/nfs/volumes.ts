import type {
  VolumeCreateParams,
  VolumeDeleteParams,
  VolumeDeleteResult,
  VolumeInfo,
  VolumeInfoParams,
  VolumeResizeParams,
} from '@vireo/agent-protocol';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import { AgentError, toAgentError } from '../../util/errors';
import type { NfsLocation } from '../domains/files';
import type { UserspaceNfsDomain } from '../domains/service';
import { createImage, type ImageFormat, imageInfo, runQemuImg } from '../qemu-img';
import { isWrongKeyFailure, LUKS_ITER_TIME_MS, withSecretFile } from '../volumes/encryption';
import { idSegment } from '../volumes/layout';
import { createOverlayUnsafe } from '../../vm/snapshots/volume-ops';
import { type NfsClient, withNfs } from './client';

/**
 * `volume.create/info/delete` for nfs domains served in userspace mode (ADR 027): qemu-img writes
 * and reads the images through its own `nfs` driver (an `nfs://` URL, never a local path), and the
 * directories around them are made and removed with the agent's NFSv3 client. The volume's `path`
 * is the domain's usual `<root>/images/<disk>/<volume>` name, which the image policy and the argv
 * builder map back onto the export when a VM uses it.
 */

/** Export paths that go into an `nfs://` URL as they are (no escaping rules to get wrong). */
const URL_SAFE_EXPORT = /^\/[A-Za-z0-9._/-]{0,1000}$/;

/** The `nfs://server/export/rel` URL qemu-img opens (IPv6 servers bracketed). */
export function nfsUrl(location: NfsLocation, rel: string): string {
  if (!URL_SAFE_EXPORT.test(location.export) || location.export.split('/').includes('..')) {
    throw new AgentError(
      'storage_feature_unavailable',
      `the export path ${JSON.stringify(location.export)} has characters userspace NFS mode cannot put in an nfs:// URL (use letters, digits, . _ - /)`,
      { details: { export: location.export } },
    );
  }
  const host =
    location.server.includes(':') && !location.server.startsWith('[')
      ? `[${location.server}]`
      : location.server;
  const base = location.export.replace(/\/+$/, '');
  return `nfs://${host}${base}/${rel}`;
}

/**
 * The `--image-opts` spelling of an image on the export: the nfs protocol node written out (server,
 * path) rather than a URL, so extra options such as `encrypt.key-secret` can follow.
 */
export function nfsImageOpts(
  location: NfsLocation,
  rel: string,
  format: string,
  extra: string[] = [],
): string {
  const path = new URL(nfsUrl(location, rel)).pathname;
  const host = location.server.replace(/^\[(.*)\]$/, '$1');
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
    ...extra,
  ].join(',');
}

export interface UserspaceVolumeDeps {
  /** The active userspace-mode domain, or undefined (the caller then uses the local service). */
  domain(id: string): UserspaceNfsDomain | undefined;
  /** The coded refusal for what this mode cannot do. */
  unavailable(domainId: string, feature: string): AgentError;
  log: Logger;
  /** Where disk keys are written (0600, removed right after use) for qemu-img to read. */
  secretsDir: string;
}

function session<T>(loc: NfsLocation, fn: (c: NfsClient) => Promise<T>): Promise<T> {
  return withNfs({ server: loc.server, export: loc.export }, fn);
}

export class UserspaceVolumes {
  constructor(private readonly deps: UserspaceVolumeDeps) {}

  private paths(d: UserspaceNfsDomain, diskId: string, volumeId?: string) {
    const disk = idSegment(diskId, 'disk_id');
    const diskRel = `${d.domainId}/images/${disk}`;
    const vol = volumeId === undefined ? undefined : idSegment(volumeId, 'volume_id');
    return {
      disk,
      vol,
      diskRel,
      volRel: vol ? `${diskRel}/${vol}` : undefined,
      path: vol ? `${d.root}/images/${disk}/${vol}` : `${d.root}/images/${disk}`,
    };
  }

  private async describe(
    d: UserspaceNfsDomain,
    ref: { disk_id: string; volume_id: string },
    format: ImageFormat,
  ): Promise<VolumeInfo> {
    const p = this.paths(d, ref.disk_id, ref.volume_id);
    const info = await imageInfo(nfsUrl(d.location, p.volRel as string), { format, forceShare: true });
    return {
      domain_id: d.domainId,
      disk_id: p.disk,
      volume_id: p.vol as string,
      path: p.path,
      format,
      virtual_size: info['virtual-size'],
      actual_size: info['actual-size'] ?? 0,
      backing: info['backing-filename'] ?? null,
    };
  }

  async create(d: UserspaceNfsDomain, p: VolumeCreateParams): Promise<VolumeInfo> {
    if (p.format === 'raw' && p.preallocation === 'metadata') {
      throw new AgentError('invalid_params', 'raw volumes have no metadata to preallocate');
    }
    if (p.backing && p.format !== 'qcow2') {
      throw new AgentError('invalid_params', 'only qcow2 volumes can have a backing volume');
    }
    if (p.size_bytes === undefined && !p.backing) {
      throw new AgentError('invalid_params', 'size_bytes is required without a backing volume');
    }
    if (p.encryption && p.format !== 'qcow2') {
      throw new AgentError('invalid_params', 'only qcow2 volumes can be encrypted');
    }
    const at = this.paths(d, p.disk_id, p.volume_id);
    const url = nfsUrl(d.location, at.volRel as string);
    const under = p.backing ? this.paths(d, p.backing.disk_id, p.backing.volume_id) : undefined;
    await session(d.location, async (c) => {
      if (under && (await c.stat(under.volRel as string))?.type !== 'file') {
        throw new AgentError(
          'image_not_found',
          `backing volume ${under.vol} of disk ${under.disk} does not exist`,
          {
            details: { domain_id: d.domainId, disk_id: under.disk, volume_id: under.vol },
          },
        );
      }
      await c.mkdir(at.diskRel, 0o750, true);
      if (await c.stat(at.volRel as string)) {
        throw new AgentError('image_exists', `volume ${at.vol} of disk ${at.disk} already exists`, {
          details: { domain_id: d.domainId, disk_id: at.disk, volume_id: at.vol },
        });
      }
    });
    try {
      const create =
        under && p.backing ? await this.overlay(d, p, url, under.path, at.path) : this.plain(p, url);
      if (p.encryption) await withSecretFile(this.deps.secretsDir, p.encryption.secret, create);
      else await create();
      return await this.describe(d, p, p.format);
    } catch (err) {
      // A half-made volume must not block a retry with the same id.
      await session(d.location, (c) => c.remove(at.volRel as string)).catch(() => undefined);
      throw toAgentError(err, `creating volume ${p.volume_id}`);
    }
  }

  private plain(p: VolumeCreateParams, url: string): (secretFile?: string) => Promise<void> {
    const sizeBytes = p.size_bytes as number;
    return (secretFile?: string) =>
      createImage({
        path: url,
        format: p.format,
        sizeBytes,
        ...(p.preallocation && p.preallocation !== 'off' ? { preallocation: p.preallocation } : {}),
        ...(secretFile ? { encryption: { secretFile, iterTimeMs: LUKS_ITER_TIME_MS } } : {}),
      });
  }

  /**
   * A snapshot layer or a thin clone: the backing is named relatively, exactly as on a local domain.
   * qemu-img cannot open that name next to an `nfs://` URL (its nfs driver mounts the name's
   * directory, and a server refuses to mount a path with `..`), so the overlay is made with `-u`
   * and the backing's size read from its header; the chain itself is checked and opened layer by
   * layer by the agent at VM start (ADR 027).
   */
  private async overlay(
    d: UserspaceNfsDomain,
    p: VolumeCreateParams,
    url: string,
    backingPath: string,
    path: string,
  ): Promise<(secretFile?: string) => Promise<void>> {
    const backing = p.backing as NonNullable<VolumeCreateParams['backing']>;
    const backingRel = `images/${idSegment(backing.disk_id, 'disk_id')}/${idSegment(backing.volume_id, 'volume_id')}`;
    const sizeBytes =
      p.size_bytes ??
      (
        await imageInfo(nfsUrl(d.location, `${d.domainId}/${backingRel}`), {
          format: backing.format,
          forceShare: true,
        })
      )['virtual-size'];
    const backingName = posix.relative(posix.dirname(path), backingPath);
    return (secretFile?: string) =>
      createOverlayUnsafe({
        path: url,
        backingName,
        backingFormat: backing.format,
        sizeBytes,
        ...(secretFile ? { secretFile } : {}),
      });
  }

  async info(d: UserspaceNfsDomain, p: VolumeInfoParams): Promise<VolumeInfo> {
    const at = this.paths(d, p.disk_id, p.volume_id);
    const st = await session(d.location, (c) => c.stat(at.volRel as string));
    if (st?.type !== 'file') {
      throw new AgentError('image_not_found', `volume ${at.vol} of disk ${at.disk} does not exist`, {
        details: { domain_id: d.domainId, disk_id: at.disk, volume_id: at.vol },
      });
    }
    return this.describe(d, p, p.format);
  }

  /**
   * Grows a volume offline (`qemu-img resize` through the nfs driver). The engine calls this only
   * for a disk whose VM is down: the nfs driver takes no lock a running QEMU would hold, so unlike
   * a local volume, a resize under a running VM would not be refused here (ADR 027).
   */
  async resize(d: UserspaceNfsDomain, p: VolumeResizeParams): Promise<VolumeInfo> {
    const before = await this.info(d, p);
    if (p.size_bytes < before.virtual_size) {
      throw new AgentError(
        'invalid_params',
        'volumes only grow: the new size is smaller than the current one',
        {
          details: { size_bytes: p.size_bytes, virtual_size: before.virtual_size },
        },
      );
    }
    if (p.size_bytes === before.virtual_size) return before;
    const at = this.paths(d, p.disk_id, p.volume_id);
    const url = nfsUrl(d.location, at.volRel as string);
    const grow = async (secretFile?: string) => {
      const args = ['resize', '-q'];
      if (secretFile) {
        // The key is named by file; the nfs protocol node is spelled out (no URL guessing).
        args.push(
          '--object',
          `secret,id=vireo-sec0,format=raw,file=${secretFile.replaceAll(',', ',,')}`,
          '--image-opts',
          nfsImageOpts(d.location, at.volRel as string, p.format, ['encrypt.key-secret=vireo-sec0']),
        );
      } else args.push('-f', p.format, url);
      args.push(String(p.size_bytes));
      await runQemuImg(args);
    };
    try {
      await (p.encryption ? withSecretFile(this.deps.secretsDir, p.encryption.secret, grow) : grow());
    } catch (err) {
      if (isWrongKeyFailure(err)) {
        throw new AgentError('encryption_key_invalid', `the key does not open volume ${at.vol}`, {
          cause: err,
        });
      }
      throw toAgentError(err, `resizing volume ${at.vol}`);
    }
    return this.describe(d, p, p.format);
  }

  async delete(d: UserspaceNfsDomain, p: VolumeDeleteParams): Promise<VolumeDeleteResult> {
    const at = this.paths(d, p.disk_id, p.volume_id);
    return session(d.location, async (c) => {
      const dir = await c.stat(at.diskRel);
      if (!dir) return { deleted: false };
      if (dir.type !== 'directory') {
        throw new AgentError('path_not_allowed', `disk directory of ${at.disk} is not a directory`, {
          details: { domain_id: d.domainId, disk_id: at.disk },
        });
      }
      // The client never follows symlinks: a planted link is removed, not what it points to.
      if (at.volRel === undefined) return { deleted: await c.rmTree(at.diskRel) };
      const deleted = await c.remove(at.volRel);
      // The last volume gone: drop the empty disk directory too.
      if ((await c.readdir(at.diskRel)).length === 0) await c.rmdir(at.diskRel);
      return { deleted };
    });
  }
}
