import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import type { NfsImage } from '../../qemu/argv/types';
import { AgentError } from '../../util/errors';
import type { StorageDomains, UserspaceNfsDomain } from '../domains/service';
import { withNfs } from './client';

/**
 * VM images on nfs domains served in userspace mode (ADR 027). Such an image has the usual path
 * (`<domain root>/images/<disk>/<volume>`, `<domain root>/images/iso/<name>`), but the path is only
 * a name on this host: the image policy checks it here over NFS (a regular file, never a symlink;
 * the header agrees with the declared format; no backing file, no external data file; a LUKS
 * header goes to the chain check, which matches it against the spec's keys),
 * and the argv builder opens it with QEMU's `nfs` driver ({@link nfsImagesOf}).
 */

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const VOLUME_REL = new RegExp(`^images/${UUID}/${UUID}$`);
const ISO_REL = /^images\/iso\/[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** Magic numbers of formats a `raw` image must not carry (QEMU would never probe it, people might). */
const FOREIGN_MAGICS: Array<[string, Buffer]> = [
  ['qcow2', Buffer.from('QFI\xfb', 'latin1')],
  ['qed', Buffer.from('QED\0', 'latin1')],
  ['vmdk', Buffer.from('KDMV', 'latin1')],
  ['vhdx', Buffer.from('vhdxfile', 'latin1')],
  ['vpc', Buffer.from('conectix', 'latin1')],
  ['luks', Buffer.from('LUKS\xba\xbe', 'latin1')],
];
const INCOMPAT_DATA_FILE = 1n << 2n;

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
  /** A VM disk: the one layer a userspace-mode volume has. */
  checkChain(path: string, format: 'qcow2' | 'raw', where: string): Promise<RemoteLayer[]>;
  /** An ISO for the CD-ROM: a regular file in the domain's `images/iso`. */
  checkIso(path: string, where: string): Promise<void>;
  /** The coded refusal for every other use of such a path (snapshots, CD change, merges…). */
  unavailable(path: string, where: string): AgentError;
  /** The `LaunchPlan.nfsImages` entries for a spec's disks and CD-ROM. */
  nfsImagesOf(spec: VmSpec): Record<string, NfsImage>;
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
    const head = await this.head(at, path, where, 4096);
    const invalid = (why: string) =>
      new AgentError('image_invalid', `image ${path}: ${why}`, { details: { path, where, format } });
    if (format === 'raw') {
      for (const [name, magic] of FOREIGN_MAGICS) {
        if (head.subarray(0, magic.length).equals(magic))
          throw invalid(`declared raw but the file is a ${name} image`);
      }
      return [{ path, format, cryptMethod: 0 }];
    }
    if (head.length < 72 || !head.subarray(0, 4).equals(FOREIGN_MAGICS[0]?.[1] as Buffer)) {
      throw invalid('declared qcow2 but the file has no qcow2 header');
    }
    const version = head.readUInt32BE(4);
    if (version !== 2 && version !== 3) throw invalid(`unknown qcow2 version ${version}`);
    if (head.readBigUInt64BE(8) !== 0n) {
      throw this.domains.featureUnavailable(at.domain.domainId, 'a volume with a backing file');
    }
    if (version === 3) {
      if (head.length < 104) throw invalid('truncated qcow2 v3 header');
      if ((head.readBigUInt64BE(72) & INCOMPAT_DATA_FILE) !== 0n)
        throw invalid('external data files are not allowed');
    }
    // The crypt method goes to the chain check, which matches it against the keys the spec names.
    return [{ path, format, cryptMethod: head.readUInt32BE(32) }];
  }

  async checkIso(path: string, where: string): Promise<void> {
    await this.head(this.located(path, where, ISO_REL, 'an ISO file'), path, where, 0);
  }

  nfsImagesOf(spec: VmSpec): Record<string, NfsImage> {
    const out: Record<string, NfsImage> = {};
    const add = (path: string) => {
      const at = this.locate(path);
      if (!at) return;
      const base = at.domain.location.export.replace(/\/+$/, '');
      out[path] = { server: at.domain.location.server, path: `${base}/${at.domain.domainId}/${at.rel}` };
    };
    for (const d of spec.disks as VmDisk[]) add(d.path);
    if (spec.cdrom?.path) add(spec.cdrom.path);
    return out;
  }
}
