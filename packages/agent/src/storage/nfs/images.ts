import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import type { DiskChainLayer, NfsImage } from '../../qemu/argv/types';
import { AgentError } from '../../util/errors';
import type { StorageDomains, UserspaceNfsDomain } from '../domains/service';
import { VOLUME_REL, walkNfsChain } from './chains';
import { withNfs } from './client';

/**
 * VM images on nfs domains served in userspace mode (ADR 027). Such an image has the usual path
 * (`<domain root>/images/<disk>/<volume>`, `<domain root>/images/iso/<name>`), but the path is only
 * a name on this host: the image policy checks it here over NFS (a regular file, never a symlink;
 * the header agrees with the declared format; backing files only by the relative names the agent
 * writes, each a volume of the same domain checked the same way ({@link walkNfsChain}); no external
 * data file; a LUKS header goes to the chain check, which matches it against the spec's keys),
 * and the argv builder opens it with QEMU's `nfs` driver ({@link nfsImagesOf}).
 */

const ISO_REL = /^images\/iso\/[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** One checked layer, as the image policy reports layers. */
export interface RemoteLayer {
  path: string;
  format: 'qcow2' | 'raw';
  cryptMethod: number;
}

/** What the image policy asks of the images it cannot see as local files. */
export interface RemoteImages {
  /** True when `path` names a file on an active userspace-mode nfs domain. */
  owns(path: string): boolean;
  /** A VM disk's chain, active layer first (every layer walked over NFS). */
  checkChain(path: string, format: 'qcow2' | 'raw', where: string): Promise<RemoteLayer[]>;
  /** An ISO for the CD-ROM: a regular file in the domain's `images/iso`. */
  checkIso(path: string, where: string): Promise<void>;
  /** The coded refusal for every other use of such a path (snapshots, CD change, merges…). */
  unavailable(path: string, where: string): AgentError;
  /**
   * The `LaunchPlan.nfsImages` entries for a spec's disks and CD-ROM, and for the lower layers of
   * `chains` (each layer of a chain on nfs opens as its own node with the nfs driver).
   */
  nfsImagesOf(spec: VmSpec, chains?: Record<string, DiskChainLayer[]>): Record<string, NfsImage>;
}

interface Located {
  domain: UserspaceNfsDomain;
  /** Path inside the domain directory (`images/…`). */
  rel: string;
}

export class UserspaceNfsImages implements RemoteImages {
  constructor(private readonly domains: StorageDomains) {}

  private locate(path: string): Located | undefined {
    for (const domain of this.domains.userspaceDomains()) {
      if (path.startsWith(`${domain.root}/`)) return { domain, rel: path.slice(domain.root.length + 1) };
    }
    return undefined;
  }

  owns(path: string): boolean {
    return this.locate(path) !== undefined;
  }

  unavailable(path: string, where: string): AgentError {
    const at = this.locate(path);
    const err = this.domains.featureUnavailable(
      at?.domain.domainId ?? 'unknown',
      'this operation on its images',
    );
    return new AgentError(err.code, err.message, { details: { ...err.details, path, where } });
  }

  private located(path: string, where: string, shape: RegExp, what: string): Located {
    const at = this.locate(path);
    if (!at || !shape.test(at.rel)) {
      throw new AgentError('path_not_allowed', `image ${path}: not ${what} of a userspace-mode nfs domain`, {
        details: { path, where },
      });
    }
    return at;
  }

  private async head(at: Located, path: string, where: string, bytes: number): Promise<Buffer> {
    const { location, domainId } = at.domain;
    const got = await withNfs({ server: location.server, export: location.export }, (c) =>
      c.readHead(`${domainId}/${at.rel}`, bytes),
    );
    if (!got)
      throw new AgentError('image_not_found', `image ${path} does not exist`, { details: { path, where } });
    if (got.attr.type !== 'file') {
      throw new AgentError('image_invalid', `image ${path} is not a regular file`, {
        details: { path, where },
      });
    }
    return got.head;
  }

  async checkChain(path: string, format: 'qcow2' | 'raw', where: string): Promise<RemoteLayer[]> {
    const at = this.located(path, where, VOLUME_REL, 'a volume');
    const { location, domainId, root } = at.domain;
    // The whole chain in one NFS session: each layer's header names the next (ADR 027).
    const layers = await withNfs({ server: location.server, export: location.export }, (c) =>
      walkNfsChain(c, domainId, at.rel, format, where, (rel) => `${root}/${rel}`),
    );
    return layers.map((l, i) => ({
      path: i === 0 ? path : `${root}/${l.rel}`,
      format: l.format,
      cryptMethod: l.cryptMethod,
    }));
  }

  async checkIso(path: string, where: string): Promise<void> {
    await this.head(this.located(path, where, ISO_REL, 'an ISO file'), path, where, 0);
  }

  nfsImagesOf(spec: VmSpec, chains: Record<string, DiskChainLayer[]> = {}): Record<string, NfsImage> {
    const out: Record<string, NfsImage> = {};
    const add = (path: string) => {
      const at = this.locate(path);
      if (!at) return;
      const base = at.domain.location.export.replace(/\/+$/, '');
      out[path] = { server: at.domain.location.server, path: `${base}/${at.domain.domainId}/${at.rel}` };
    };
    for (const d of spec.disks as VmDisk[]) add(d.path);
    if (spec.cdrom?.path) add(spec.cdrom.path);
    for (const chain of Object.values(chains)) for (const layer of chain) add(layer.path);
    return out;
  }
}
