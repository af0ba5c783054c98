import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import {
  domainStoreRows,
  forgetDomainFile,
  recordDomainFile,
  recordedDomainFiles,
} from '../db/repositories/ovf-store';
import { findStorageDomain } from '../db/repositories/storage-domains';
import type { Db } from '../db/schema';
import type { StorageDomainRow } from '../db/tables/storage';
import { sha256 } from '../domain/storage/disk-metadata';
import { domainFilesOf } from '../domain/storage/ovf-store';
import { hostForDomains } from './disk-storage';
import { type LeasedJob, runLeased } from './lease';
import { agentCodeOf } from './vm-controller';

export interface OvfStoreDeps {
  db: Db;
  hub: AgentHub;
  log: Logger;
  /** Period of the level-triggered pass over active data domains (`VIREO_OVF_STORE_S`, default 60 s). */
  intervalMs?: number;
}

/** What one pass did on one domain. */
export interface OvfStoreSyncResult {
  written: string[];
  deleted: string[];
  errors: { path: string; message: string }[];
}

/**
 * The OVF store (oVirt's name for it): keeps every data domain's `master/` tree describing the disks
 * and VMs on it, so a detached domain can be registered by another engine (ADR 025). Level-
 * triggered: each pass computes the files the database implies (disk metadata JSON, VM OVF), compares
 * their digests with what it last wrote (`domain_metadata_files`), writes what changed through a host
 * that sees the domain (`storage.file_write`, atomic on the agent) and deletes files of disks and VMs
 * that left the domain. It runs periodically under a lease and is flushed by the storage-domain
 * controller before a domain goes to maintenance or is detached.
 */
export class OvfStoreController {
  private job: LeasedJob | undefined;
  private readonly log: Logger;
  /** One pass per domain at a time (the periodic pass and a flush may meet). */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: OvfStoreDeps) {
    this.log = deps.log.child({ module: 'engine:ovf-store' });
  }

  start(): void {
    this.job = runLeased(
      this.deps.db,
      'ovf_store.refresh',
      this.deps.intervalMs ?? 60_000,
      () => this.syncAll(),
      {
        log: this.log,
        runAtStart: false,
      },
    );
  }

  async stop(): Promise<void> {
    await this.job?.stop();
    this.job = undefined;
  }

  /** One pass over every active data domain; a domain no connected host sees waits for the next. */
  async syncAll(): Promise<void> {
    const rows = await this.deps.db
      .selectFrom('storage_domains')
      .selectAll()
      .where('kind', '=', 'data')
      .where('state', '=', 'active')
      .execute();
    for (const row of rows) {
      try {
        const host = await hostForDomains(this.deps.db, this.deps.hub, [row]);
        await this.sync(row, host);
      } catch (err) {
        this.log.warn({ err, domain_id: row.id }, 'OVF store pass failed');
      }
    }
  }

  /**
   * Writes everything now through `hostId` (where the domain is active), whatever the record says:
   * called before maintenance and detach, so the domain leaves with current configurations. With
   * `forget`, the record is cleared afterwards (a detached domain may come back changed by another
   * engine: the next pass then rewrites every file).
   */
  async flush(
    domainId: string,
    hostId: string,
    opts: { forget?: boolean } = {},
  ): Promise<OvfStoreSyncResult> {
    const row = await findStorageDomain(this.deps.db, domainId);
    if (row?.kind !== 'data') return { written: [], deleted: [], errors: [] };
    const result = await this.sync(row, hostId, true);
    if (opts.forget) await forgetDomainFile(this.deps.db, domainId);
    return result;
  }

  /** Compares and writes one domain's files through one host. */
  sync(row: StorageDomainRow, hostId: string, force = false): Promise<OvfStoreSyncResult> {
    const prev = this.running.get(row.id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.syncNow(row, hostId, force));
    this.running.set(row.id, next);
    void next.finally(() => {
      if (this.running.get(row.id) === next) this.running.delete(row.id);
    });
    return next;
  }

  private async syncNow(row: StorageDomainRow, hostId: string, force: boolean): Promise<OvfStoreSyncResult> {
    const { db, hub } = this.deps;
    const desired = domainFilesOf(await domainStoreRows(db, row.id));
    const recorded = await recordedDomainFiles(db, row.id);
    const result: OvfStoreSyncResult = { written: [], deleted: [], errors: [...desired.errors] };
    for (const e of desired.errors)
      this.log.warn({ domain_id: row.id, ...e }, 'cannot describe an object on storage');
    for (const f of desired.files) {
      const digest = sha256(f.text);
      if (!force && recorded.get(f.path) === digest) continue;
      try {
        await hub.call(hostId, 'storage.file_write', { domain_id: row.id, path: f.path, content: f.text });
        await recordDomainFile(db, row.id, f.path, digest);
        result.written.push(f.path);
      } catch (err) {
        result.errors.push({ path: f.path, message: (err as Error).message });
        this.log.warn({ err, domain_id: row.id, path: f.path }, 'writing a file of the OVF store failed');
      }
    }
    const wanted = new Set([...desired.files.map((f) => f.path), ...desired.keep]);
    for (const path of recorded.keys()) {
      if (wanted.has(path)) continue;
      try {
        await hub.call(hostId, 'storage.file_delete', { domain_id: row.id, path }).catch((err: unknown) => {
          if (agentCodeOf(err) !== 'file_not_found') throw err;
        });
        await forgetDomainFile(db, row.id, path);
        result.deleted.push(path);
      } catch (err) {
        result.errors.push({ path, message: (err as Error).message });
        this.log.warn({ err, domain_id: row.id, path }, 'removing a file of the OVF store failed');
      }
    }
    if (result.written.length || result.deleted.length)
      this.log.info(
        { domain_id: row.id, written: result.written.length, deleted: result.deleted.length },
        'OVF store updated',
      );
    return result;
  }
}

/** OVF store period from the environment (`VIREO_OVF_STORE_S`, 5…86400 s, default 60). */
export function ovfStoreMsFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env.VIREO_OVF_STORE_S;
  if (raw === undefined || raw === '') return 60_000;
  const s = Number(raw);
  if (!Number.isInteger(s) || s < 5 || s > 86_400) {
    throw new Error(`VIREO_OVF_STORE_S must be an integer between 5 and 86400, not ${JSON.stringify(raw)}`);
  }
  return s * 1000;
}
