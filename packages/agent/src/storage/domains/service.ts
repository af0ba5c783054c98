import { constants } from 'node:fs';
import { access, mkdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  IsoFile,
  StorageActivateParams,
  StorageActivateResult,
  StorageCapacity,
  StorageDomainMetadata,
  StorageDomainRef,
  StorageProbeParams,
} from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError } from '../../util/errors';
import { Reverter } from '../../util/reverter';
import { writeFileAtomic } from '../../vm/store';
import type { NfsModeProbe } from '../nfs/mode';
import { type DomainFiles, LocalFiles, type NfsLocation, NfsFiles } from './files';
import { DOMAIN_FORMAT_VERSION } from './metadata';
import { mountedFsType, nfsMountArgv, runMountTool } from './mount';

/** Where the agent may let VM specs and volume calls reach: the roots of active domains. */
export interface RootPolicy {
  addRoot(dir: string): void;
  removeRoot(dir: string): void;
}

export interface StorageDomainsOptions {
  /** The agent's state directory: the list of active domains is kept in it. */
  stateDir: string;
  policy: RootPolicy;
  log: Logger;
  /** mount/umount runner; tests replace it to check argv without a kernel NFS client. */
  mountTool?: (tool: 'mount' | 'umount', args: string[]) => Promise<void>;
  /**
   * How nfs domains are served here (`detectNfsMode`, ADR 027). Default `kernel` (mount -t nfs);
   * `userspace` reaches the export with the agent's NFSv3 client and QEMU's nfs driver instead.
   */
  nfsMode?: NfsModeProbe;
  /** The host's name, for `storage_feature_unavailable` messages. */
  hostName?: string;
}

/** An active nfs domain served in userspace mode: where its export is. */
export interface UserspaceNfsDomain {
  domainId: string;
  location: NfsLocation;
  /** The path the domain's files have in VM specs and volume paths (never a local directory). */
  root: string;
}

interface ActiveDomain {
  ref: StorageDomainRef;
  /** `<path>/<id>`, symlinks resolved. */
  root: string;
  /** We mounted it (nfs): deactivation unmounts. */
  mounted: boolean;
  /** Served in userspace mode: `root` is only a name, the files are on the export. */
  userspace?: boolean;
}

const UUID_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const STATE_FILE = 'storage-domains.json';

/**
 * The storage domains active on this host. Activation is idempotent and level-triggered from the
 * engine; the list survives agent restarts (`<stateDir>/storage-domains.json`) so VMs that kept
 * running still pass the image policy. One storage change at a time: activations are rare and a
 * serial queue keeps mount, metadata and the state file consistent without finer locks.
 */
export class StorageDomains {
  private readonly active = new Map<string, ActiveDomain>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly mountTool: (tool: 'mount' | 'umount', args: string[]) => Promise<void>;

  constructor(private readonly opts: StorageDomainsOptions) {
    this.mountTool = opts.mountTool ?? ((tool, args) => runMountTool(tool, args));
  }

  /** How nfs domains are served on this host (reported in the host's capabilities). */
  get nfsMode(): NfsModeProbe {
    return this.opts.nfsMode ?? { mode: 'kernel', reason: 'default' };
  }

  private userspace(ref: StorageDomainRef): boolean {
    return ref.backend === 'nfs' && this.nfsMode.mode === 'userspace';
  }

  /** The file operations of a domain's location: a directory here, or the export over NFS. */
  private async filesOf(ref: StorageDomainRef): Promise<DomainFiles> {
    if (this.userspace(ref)) {
      if (!ref.nfs_server || !ref.nfs_export) {
        throw new AgentError('invalid_params', 'an nfs domain needs nfs_server and nfs_export');
      }
      return new NfsFiles({ server: ref.nfs_server, export: ref.nfs_export });
    }
    return new LocalFiles(await realpath(ref.path).catch(() => ref.path));
  }

  /** The active userspace-mode nfs domain `id`, or undefined (not active, or a directory domain). */
  userspaceDomain(id: string): UserspaceNfsDomain | undefined {
    const d = this.active.get(id.toLowerCase());
    if (!d?.userspace) return undefined;
    return {
      domainId: d.ref.id,
      location: { server: d.ref.nfs_server ?? '', export: d.ref.nfs_export ?? '' },
      root: d.root,
    };
  }

  /** Every active userspace-mode nfs domain (the image policy and argv map their paths). */
  userspaceDomains(): UserspaceNfsDomain[] {
    return this.list()
      .map((id) => this.userspaceDomain(id))
      .filter((d): d is UserspaceNfsDomain => d !== undefined);
  }

  /** The coded refusal for what a userspace-mode nfs domain cannot do (ADR 027). */
  featureUnavailable(id: string, feature: string): AgentError {
    const host = this.opts.hostName ?? 'this host';
    return new AgentError(
      'storage_feature_unavailable',
      `${feature} is not available for nfs storage domain ${id} on host ${host}: the host has no kernel NFS client (${this.nfsMode.reason}), so the domain is served in userspace mode`,
      { details: { domain_id: id, feature, nfs_mode: 'userspace', host } },
    );
  }

  /** Re-reads the list after an agent restart: roots go back into the policy, nfs is remounted. */
  async restore(): Promise<void> {
    let saved: ActiveDomain[] = [];
    try {
      saved = JSON.parse(await readFile(this.stateFile, 'utf8')).domains ?? [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.opts.log.warn({ err }, 'storage domain list unreadable; starting with none');
      }
      return;
    }
    for (const d of saved) {
      try {
        if (d.ref.backend === 'nfs' && !d.userspace) await this.ensureMounted(d.ref);
        this.active.set(d.ref.id, d);
        // A userspace-mode root is only a name: the image policy asks the nfs module about it.
        if (!d.userspace) this.opts.policy.addRoot(d.root);
      } catch (err) {
        // The engine re-activates (or marks the domain inactive); keeping it listed lets it retry.
        this.active.set(d.ref.id, d);
        this.opts.log.warn({ err, domain_id: d.ref.id }, 'storage domain not reachable after restart');
      }
    }
  }

  /** `storage.activate`. */
  activate(p: StorageActivateParams): Promise<StorageActivateResult> {
    return this.serial(() => this.doActivate(p));
  }

  /** `storage.deactivate`: idempotent; `release` clears the owner first (detach). */
  deactivate(id: string, release = false): Promise<{ id: string; was_active: boolean }> {
    return this.serial(async () => {
      const key = id.toLowerCase();
      const d = this.active.get(key);
      if (!d) return { id: key, was_active: false };
      if (release) {
        const files = await this.filesOf(d.ref);
        const md = await files.readMetadata(key);
        if (md) await files.writeMetadata(key, { ...md, owner_engine_id: null, updated_at: now() });
      }
      this.opts.policy.removeRoot(d.root);
      this.active.delete(key);
      await this.save();
      if (d.mounted && !d.userspace && (await mountedFsType(d.ref.path))?.startsWith('nfs')) {
        await this.mountTool('umount', [d.ref.path]);
      }
      this.opts.log.info({ domain_id: key, release }, 'storage domain deactivated');
      return { id: key, was_active: true };
    });
  }

  /**
   * The local directory of an active domain (volume, transfer, export and registration calls);
   * `storage_domain_not_active` otherwise, and `storage_feature_unavailable` for a userspace-mode
   * nfs domain: it has no local directory, and callers that need one cannot serve it.
   */
  async rootOf(id: string): Promise<string> {
    const d = this.activeDomain(id);
    if (d.userspace) throw this.featureUnavailable(d.ref.id, 'this operation');
    return d.root;
  }

  private activeDomain(id: string): ActiveDomain {
    const d = this.active.get(id.toLowerCase());
    if (!d) {
      throw new AgentError('storage_domain_not_active', `storage domain ${id} is not active on this host`, {
        details: { domain_id: id },
      });
    }
    return d;
  }

  /** Ids of the active domains. */
  list(): string[] {
    return [...this.active.keys()];
  }

  /** `storage.capacity`: statfs of the domain root (FSSTAT of the export in userspace mode). */
  async capacity(id: string): Promise<StorageCapacity> {
    const d = this.activeDomain(id);
    return d.userspace ? (await this.filesOf(d.ref)).capacity(d.ref.id) : capacityOf(d.root);
  }

  /** `storage.list_isos`: regular files of `images/iso` with safe names, sorted by name. */
  async listIsos(id: string): Promise<IsoFile[]> {
    const d = this.activeDomain(id);
    const files = d.userspace ? await this.filesOf(d.ref) : new LocalFiles(d.root);
    const dir = d.userspace ? `${d.ref.id}/images/iso` : 'images/iso';
    const isos: IsoFile[] = [];
    // Symlinks are reported as such (never followed): only real files in the domain count.
    for (const e of (await files.list(dir)).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      if (!ISO_NAME.test(e.name) || e.name.includes('..') || e.type !== 'file') continue;
      isos.push({ name: e.name, size_bytes: e.size, modified_at: e.mtime.toISOString() });
    }
    return isos;
  }

  /** `storage.probe`: metadata of the domains under a location (nfs: mounted only for the look). */
  probe(p: StorageProbeParams): Promise<StorageDomainMetadata[]> {
    return this.serial(async () => {
      const r = new Reverter(this.opts.log);
      try {
        const ref = { id: '', name: 'probe', kind: 'data', ...p } as StorageDomainRef;
        if (p.backend === 'nfs' && !this.userspace(ref)) {
          if (await this.ensureMounted(ref)) r.add(() => this.mountTool('umount', [p.path]), 'unmount probe');
        }
        const files = await this.filesOf(ref);
        await files.checkLocation(false);
        const found: StorageDomainMetadata[] = [];
        const names = (await files.list(''))
          .filter((e) => e.type === 'directory')
          .map((e) => e.name)
          .sort();
        for (const name of names) {
          if (!UUID_NAME.test(name)) continue;
          const md = await files.readMetadata(name).catch((err: unknown) => {
            this.opts.log.warn({ err, dir: name }, 'unreadable domain metadata skipped');
            return undefined;
          });
          if (md && md.id === name) found.push(md);
        }
        return found;
      } finally {
        await r.revert();
      }
    });
  }

  private async doActivate(p: StorageActivateParams): Promise<StorageActivateResult> {
    const ref = { ...p.domain, id: p.domain.id.toLowerCase() };
    const engineId = p.engine_id.toLowerCase();
    const r = new Reverter(this.opts.log);
    try {
      const userspace = this.userspace(ref);
      if (ref.backend === 'nfs') {
        if (!ref.nfs_server || !ref.nfs_export) {
          throw new AgentError('invalid_params', 'an nfs domain needs nfs_server and nfs_export');
        }
        if (!userspace && (await this.ensureMounted(ref)))
          r.add(() => this.mountTool('umount', [ref.path]), 'unmount');
      } else if (ref.backend === 'local') {
        // The host's own directory: created on first use, like the agent's image directories.
        await mkdir(ref.path, { recursive: true, mode: 0o755 });
      }
      const files = await this.filesOf(ref);
      await files.checkLocation(true);
      // Userspace mode: the root is a name only (VM specs and volume paths use it; the image policy
      // and the argv builder map it onto the export), nothing is created on this host.
      const root = userspace ? join(ref.path, ref.id) : join(await realpath(ref.path), ref.id);
      const md = await this.ensureLayout(files, root, ref, engineId, p.create_metadata);
      const was = this.active.get(ref.id);
      // An nfs mount point is the engine's (derived per domain): the agent owns whatever is mounted there.
      const entry: ActiveDomain = {
        ref,
        root,
        mounted: ref.backend === 'nfs' && !userspace,
        ...(userspace ? { userspace: true } : {}),
      };
      if (was && was.root !== root) this.opts.policy.removeRoot(was.root);
      this.active.set(ref.id, entry);
      if (!userspace) this.opts.policy.addRoot(root);
      await this.save();
      r.success();
      const cap = userspace ? await files.capacity(ref.id) : await capacityOf(root);
      if (!was) {
        this.opts.log.info(
          {
            domain_id: ref.id,
            root,
            backend: ref.backend,
            ...(ref.backend === 'nfs' ? { nfs_mode: this.nfsMode.mode } : {}),
          },
          'storage domain activated',
        );
      }
      return { ...cap, metadata: md, root };
    } finally {
      await r.revert();
    }
  }

  /** Checks (or creates) `<root>/{dom_md,images}` and the metadata; claims an unowned domain. */
  private async ensureLayout(
    files: DomainFiles,
    root: string,
    ref: StorageDomainRef,
    engineId: string,
    create: boolean,
  ): Promise<StorageDomainMetadata> {
    const dir = ref.id;
    let md = await files.readMetadata(dir);
    if (!md) {
      if (!create) {
        throw new AgentError('storage_metadata_invalid', `no storage domain metadata in ${root}`, {
          details: { domain_id: ref.id, root },
        });
      }
      await files.mkdir(`${dir}/dom_md`);
      const at = now();
      md = {
        id: ref.id,
        name: ref.name,
        kind: ref.kind,
        format_version: DOMAIN_FORMAT_VERSION,
        owner_engine_id: engineId,
        created_at: at,
        updated_at: at,
      };
      await files.writeMetadata(dir, md);
    }
    if (md.id !== ref.id || md.kind !== ref.kind) {
      throw new AgentError(
        'storage_domain_foreign',
        `${root} holds ${md.kind} domain ${md.id} (${md.name}), not ${ref.kind} domain ${ref.id}`,
        { details: { domain_id: ref.id, found_id: md.id, found_kind: md.kind } },
      );
    }
    if (md.owner_engine_id !== engineId) {
      if (md.owner_engine_id !== null || !create) {
        throw new AgentError('storage_domain_foreign', `storage domain ${ref.id} belongs to another engine`, {
          details: { domain_id: ref.id, owner_engine_id: md.owner_engine_id },
        });
      }
      md = { ...md, owner_engine_id: engineId, updated_at: now() };
      await files.writeMetadata(dir, md);
    }
    if (md.name !== ref.name) {
      md = { ...md, name: ref.name, updated_at: now() };
      await files.writeMetadata(dir, md);
    }
    await files.mkdir(ref.kind === 'iso' ? `${dir}/images/iso` : `${dir}/images`);
    if (files.kind === 'local') {
      await access(root, constants.W_OK).catch((err: unknown) => {
        throw new AgentError('storage_unreachable', `${root} is not writable`, { cause: err });
      });
    }
    return md;
  }

  /** Mounts an nfs domain unless something is mounted there already; true when this call mounted. */
  private async ensureMounted(ref: StorageDomainRef): Promise<boolean> {
    await mkdir(ref.path, { recursive: true, mode: 0o755 });
    const fs = await mountedFsType(ref.path);
    if (fs?.startsWith('nfs')) return false;
    if (fs !== undefined) {
      throw new AgentError('storage_unreachable', `${ref.path} already holds a ${fs} mount`, {
        details: { path: ref.path },
      });
    }
    await this.mountTool(
      'mount',
      nfsMountArgv({
        server: ref.nfs_server ?? '',
        export: ref.nfs_export ?? '',
        mountPoint: ref.path,
        options: ref.mount_options,
      }),
    );
    return true;
  }

  private get stateFile(): string {
    return join(this.opts.stateDir, STATE_FILE);
  }

  private async save(): Promise<void> {
    await writeFileAtomic(
      this.stateFile,
      `${JSON.stringify({ domains: [...this.active.values()] }, null, 2)}\n`,
    );
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function capacityOf(root: string): Promise<StorageCapacity> {
  return new LocalFiles(root).capacity('');
}

function now(): string {
  return new Date().toISOString();
}
