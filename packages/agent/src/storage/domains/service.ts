import { constants } from 'node:fs';
import { access, lstat, mkdir, readdir, readFile, realpath, statfs } from 'node:fs/promises';
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
import { DOMAIN_FORMAT_VERSION, readMetadata, writeMetadata } from './metadata';
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
}

interface ActiveDomain {
  ref: StorageDomainRef;
  /** `<path>/<id>`, symlinks resolved. */
  root: string;
  /** We mounted it (nfs): deactivation unmounts. */
  mounted: boolean;
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
        if (d.ref.backend === 'nfs') await this.ensureMounted(d.ref);
        this.active.set(d.ref.id, d);
        this.opts.policy.addRoot(d.root);
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
        const md = await readMetadata(d.root);
        if (md) await writeMetadata(d.root, { ...md, owner_engine_id: null, updated_at: now() });
      }
      this.opts.policy.removeRoot(d.root);
      this.active.delete(key);
      await this.save();
      if (d.mounted && (await mountedFsType(d.ref.path))?.startsWith('nfs')) {
        await this.mountTool('umount', [d.ref.path]);
      }
      this.opts.log.info({ domain_id: key, release }, 'storage domain deactivated');
      return { id: key, was_active: true };
    });
  }

  /** The root of an active domain (for volume calls); `storage_domain_not_active` otherwise. */
  async rootOf(id: string): Promise<string> {
    const d = this.active.get(id.toLowerCase());
    if (!d) {
      throw new AgentError('storage_domain_not_active', `storage domain ${id} is not active on this host`, {
        details: { domain_id: id },
      });
    }
    return d.root;
  }

  /** Ids of the active domains. */
  list(): string[] {
    return [...this.active.keys()];
  }

  /** `storage.capacity` via statfs of the domain root. */
  async capacity(id: string): Promise<StorageCapacity> {
    return capacityOf(await this.rootOf(id));
  }

  /** `storage.list_isos`: regular files of `images/iso` with safe names, sorted by name. */
  async listIsos(id: string): Promise<IsoFile[]> {
    const root = await this.rootOf(id);
    const dir = join(root, 'images', 'iso');
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw new AgentError('storage_unreachable', `cannot list ${dir}`, { cause: err });
    });
    const files: IsoFile[] = [];
    for (const name of names.sort()) {
      if (!ISO_NAME.test(name) || name.includes('..')) continue;
      // lstat: a symlink could point anywhere; only real files in the domain count.
      const st = await lstat(join(dir, name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      files.push({ name, size_bytes: st.size, modified_at: st.mtime.toISOString() });
    }
    return files;
  }

  /** `storage.probe`: metadata of the domains under a location (nfs: mounted only for the look). */
  probe(p: StorageProbeParams): Promise<StorageDomainMetadata[]> {
    return this.serial(async () => {
      const r = new Reverter(this.opts.log);
      try {
        if (p.backend === 'nfs') {
          const ref = { id: '', name: 'probe', kind: 'data', ...p } as StorageDomainRef;
          if (await this.ensureMounted(ref)) r.add(() => this.mountTool('umount', [p.path]), 'unmount probe');
        }
        await checkDirectory(p.path, false);
        const found: StorageDomainMetadata[] = [];
        for (const name of (await readdir(p.path)).sort()) {
          if (!UUID_NAME.test(name)) continue;
          const md = await readMetadata(join(p.path, name)).catch((err: unknown) => {
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
      if (ref.backend === 'nfs') {
        if (!ref.nfs_server || !ref.nfs_export) {
          throw new AgentError('invalid_params', 'an nfs domain needs nfs_server and nfs_export');
        }
        if (await this.ensureMounted(ref)) r.add(() => this.mountTool('umount', [ref.path]), 'unmount');
      } else if (ref.backend === 'local') {
        // The host's own directory: created on first use, like the agent's image directories.
        await mkdir(ref.path, { recursive: true, mode: 0o755 });
      }
      await checkDirectory(ref.path, true);
      const root = join(await realpath(ref.path), ref.id);
      const md = await this.ensureLayout(root, ref, engineId, p.create_metadata);
      const was = this.active.get(ref.id);
      // An nfs mount point is the engine's (derived per domain): the agent owns whatever is mounted there.
      const entry: ActiveDomain = { ref, root, mounted: ref.backend === 'nfs' };
      if (was && was.root !== root) this.opts.policy.removeRoot(was.root);
      this.active.set(ref.id, entry);
      this.opts.policy.addRoot(root);
      await this.save();
      r.success();
      const cap = await capacityOf(root);
      if (!was)
        this.opts.log.info({ domain_id: ref.id, root, backend: ref.backend }, 'storage domain activated');
      return { ...cap, metadata: md, root };
    } finally {
      await r.revert();
    }
  }

  /** Checks (or creates) `<root>/{dom_md,images}` and the metadata; claims an unowned domain. */
  private async ensureLayout(
    root: string,
    ref: StorageDomainRef,
    engineId: string,
    create: boolean,
  ): Promise<StorageDomainMetadata> {
    let md = await readMetadata(root);
    if (!md) {
      if (!create) {
        throw new AgentError('storage_metadata_invalid', `no storage domain metadata in ${root}`, {
          details: { domain_id: ref.id, root },
        });
      }
      await mkdir(join(root, 'dom_md'), { recursive: true, mode: 0o755 });
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
      await writeMetadata(root, md);
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
      await writeMetadata(root, md);
    }
    if (md.name !== ref.name) {
      md = { ...md, name: ref.name, updated_at: now() };
      await writeMetadata(root, md);
    }
    await mkdir(join(root, 'images'), { recursive: true, mode: 0o755 });
    if (ref.kind === 'iso') await mkdir(join(root, 'images', 'iso'), { recursive: true, mode: 0o755 });
    await access(root, constants.W_OK).catch((err: unknown) => {
      throw new AgentError('storage_unreachable', `${root} is not writable`, { cause: err });
    });
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

/** A directory that exists (posix: mounted by the administrator) and, if asked, is writable. */
async function checkDirectory(path: string, writable: boolean): Promise<void> {
  const st = await lstat(path).catch((err: unknown) => {
    throw new AgentError('storage_unreachable', `${path} does not exist`, { cause: err, details: { path } });
  });
  if (!st.isDirectory()) {
    throw new AgentError('storage_unreachable', `${path} is not a directory`, { details: { path } });
  }
  if (writable) {
    await access(path, constants.W_OK).catch((err: unknown) => {
      throw new AgentError('storage_unreachable', `${path} is not writable`, {
        cause: err,
        details: { path },
      });
    });
  }
}

async function capacityOf(root: string): Promise<StorageCapacity> {
  const s = await statfs(root).catch((err: unknown) => {
    throw new AgentError('storage_unreachable', `statfs ${root} failed`, { cause: err });
  });
  return { total_bytes: s.blocks * s.bsize, free_bytes: s.bavail * s.bsize };
}

function now(): string {
  return new Date().toISOString();
}
