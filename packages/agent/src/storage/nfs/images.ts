import { posix } from 'node:path';
import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import type { DiskChainLayer, NfsImage } from '../../qemu/argv/types';
import { AgentError } from '../../util/errors';
import type { StorageDomains, UserspaceNfsDomain } from '../domains/service';
import { VOLUME_REL, walkNfsChain } from './chains';
import { type NfsClient, withNfs } from './client';
import { MEMORY_REL, NfsMemoryState } from './memory-state';
import { nfsUrl } from './volumes';

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
   * The volume path a QEMU block node's file name stands for (`nfs://server/export/…` or a
   * `json:` name holding an nfs node), or undefined when it is not one of these domains' files.
   */
  localPathOf(qemuFilename: string): string | undefined;
  /** A volume that exists (regular file, layout position): its path. */
  checkVolume(path: string, where: string): Promise<string>;
  /** A volume about to be made: layout position, nothing there yet. Returns its path. */
  checkNewVolume(path: string, where: string): Promise<string>;
  /** The `nfs://` URL qemu-img opens a volume by. */
  urlOf(path: string): string;
  /** Removes a volume file (never following a link); true when it was there. */
  removeVolume(path: string): Promise<boolean>;
  /** Small files of a disk directory (merge markers), written atomically over NFS. */
  diskFiles(dir: string): DiskDirFiles;
  /** A memory state file (`images/<disk>/<snapshot>.memory`), read and written over NFS. */
  memoryState(path: string, where: string): NfsMemoryState;
  /**
   * The `LaunchPlan.nfsImages` entries for a spec's disks and CD-ROM, and for the lower layers of
   * `chains` (each layer of a chain on nfs opens as its own node with the nfs driver).
   */
  nfsImagesOf(spec: VmSpec, chains?: Record<string, DiskChainLayer[]>): Record<string, NfsImage>;
}

/** Small files in a disk directory on the export. */
export interface DiskDirFiles {
  read(name: string, maxBytes: number): Promise<Buffer | undefined>;
  /** Writes a temporary name and renames it over `name` (the server commits both before answering). */
  write(name: string, data: Buffer): Promise<void>;
  remove(name: string): Promise<void>;
  /** The names in the disk directory. */
  list(): Promise<string[]>;
}

/** Any volume name: locates a disk directory through the volume pattern. */
const SOME_VOLUME = '00000000-0000-0000-0000-000000000000';

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

  localPathOf(qemuFilename: string): string | undefined {
    let server: string | undefined;
    let file: string | undefined;
    if (qemuFilename.startsWith('nfs://')) {
      try {
        const url = new URL(qemuFilename);
        server = url.hostname.replace(/^\[(.*)\]$/, '$1');
        file = decodeURIComponent(url.pathname);
      } catch {
        return undefined;
      }
    } else if (qemuFilename.startsWith('json:')) {
      try {
        const o = JSON.parse(qemuFilename.slice(5)) as Record<string, unknown>;
        const node = (o.driver === 'nfs' ? o : o.file) as Record<string, unknown> | undefined;
        if (typeof node?.filename === 'string') return this.localPathOf(node.filename);
        // QEMU writes the server either nested or flattened (`server.host`), depending on its origin.
        const host = (node?.server as { host?: unknown } | undefined)?.host ?? node?.['server.host'];
        if (node?.driver !== 'nfs' || typeof node.path !== 'string' || typeof host !== 'string')
          return undefined;
        server = host;
        file = node.path;
      } catch {
        return undefined;
      }
    } else return undefined;
    for (const domain of this.domains.userspaceDomains()) {
      const base = `${domain.location.export.replace(/\/+$/, '')}/${domain.domainId}/`;
      if (domain.location.server === server && file.startsWith(base)) {
        const rel = file.slice(base.length);
        if (VOLUME_REL.test(rel)) return `${domain.root}/${rel}`;
      }
    }
    return undefined;
  }

  async checkVolume(path: string, where: string): Promise<string> {
    await this.head(this.located(path, where, VOLUME_REL, 'a volume'), path, where, 0);
    return path;
  }

  async checkNewVolume(path: string, where: string): Promise<string> {
    const at = this.located(path, where, VOLUME_REL, 'a volume');
    const there = await this.session(at, (c) => c.stat(`${at.domain.domainId}/${at.rel}`));
    if (there) throw new AgentError('image_exists', `${path} already exists`, { details: { path, where } });
    return path;
  }

  urlOf(path: string): string {
    const at = this.located(path, 'path', VOLUME_REL, 'a volume');
    return nfsUrl(at.domain.location, `${at.domain.domainId}/${at.rel}`);
  }

  async removeVolume(path: string): Promise<boolean> {
    const at = this.located(path, 'path', VOLUME_REL, 'a volume');
    return this.session(at, (c) => c.remove(`${at.domain.domainId}/${at.rel}`));
  }

  diskFiles(dir: string): DiskDirFiles {
    const at = this.located(`${dir}/${SOME_VOLUME}`, 'dir', VOLUME_REL, 'a disk directory');
    const inDir = (name: string) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(name)) {
        throw new AgentError('invalid_params', `not a file name of a disk directory: ${name}`);
      }
      return `${at.domain.domainId}/${posix.dirname(at.rel)}/${name}`;
    };
    return {
      read: (name, maxBytes) => this.session(at, (c) => c.readFile(inDir(name), maxBytes)),
      write: (name, data) => this.session(at, (c) => c.writeFileAtomic(inDir(name), data, 0o600)),
      remove: async (name) => {
        await this.session(at, (c) => c.remove(inDir(name)));
      },
      list: () =>
        this.session(at, async (c) =>
          (await c.readdir(`${at.domain.domainId}/${posix.dirname(at.rel)}`)).map((e) => e.name),
        ),
    };
  }

  memoryState(path: string, where: string): NfsMemoryState {
    const at = this.located(path, where, MEMORY_REL, 'a memory state');
    return new NfsMemoryState(at.domain, at.rel, path);
  }

  private session<T>(at: Located, fn: (c: NfsClient) => Promise<T>): Promise<T> {
    const { location } = at.domain;
    return withNfs({ server: location.server, export: location.export }, fn);
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
