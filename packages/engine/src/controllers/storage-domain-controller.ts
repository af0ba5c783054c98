import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import {
  datacenterOfHost,
  engineId,
  findStorageDomain,
  setStorageDomainCapacity,
  setStorageDomainState,
  upHostsInDatacenter,
} from '../db/repositories/storage-domains';
import type { Db } from '../db/schema';
import type { StorageDomainRow, StorageDomainState } from '../db/tables/storage';
import { agentDomainRef } from '../domain/storage/ref';
import { NotFound, Unavailable } from '../errors';
import type { OperationContext, OperationRegistry } from '../operations';
import type { AuditRecorder } from '../services/ports';
import { type LeasedJob, runLeased } from './lease';
import { agentCodeOf } from './vm-controller';

const ACTIVATE_TIMEOUT_MS = 90_000;

export interface StorageDomainControllerDeps {
  db: Db;
  hub: AgentHub;
  registry: OperationRegistry;
  audit: AuditRecorder;
  log: Logger;
  /** Capacity refresh / re-activation period. Default 30 s (`VIREO_STORAGE_REFRESH_S`). */
  intervalMs?: number;
  /**
   * Runs while the domain is still active on `hostId`, before maintenance or detach takes it away
   * (the OVF store writes the current configurations there). Its failure is logged, not fatal.
   */
  beforeRelease?: (row: StorageDomainRow, hostId: string, action: 'maintenance' | 'detach') => Promise<void>;
}

/** Outcome of activating one domain on the hosts that should have it. */
interface Reach {
  reached: string[];
  failed: { host_id: string; code: string; message: string }[];
}

/**
 * Keeps storage domains active where they should be (level-triggered): every `active` (or
 * `inactive`) domain is activated on every `up` host of its data center (a local domain: on its
 * host), again whenever a host's agent connects, and periodically under a lease, which also
 * refreshes capacity. A domain no host can reach turns `inactive`; reached again, `active`. The
 * agent's activation is idempotent, so repeating it is how drift (an agent that lost its list, an
 * unmounted export) heals. Also runs the `storage_domain.*` operations.
 */
export class StorageDomainController {
  private job: LeasedJob | undefined;
  private engineIdCache: string | undefined;
  private readonly log: Logger;
  private readonly onConnected = (hostId: string) => void this.activateOnHost(hostId);

  constructor(private readonly deps: StorageDomainControllerDeps) {
    this.log = deps.log.child({ module: 'engine:storage-domains' });
    this.register();
  }

  start(): void {
    this.deps.hub.on('connected', this.onConnected);
    this.job = runLeased(
      this.deps.db,
      'storage_domain.refresh',
      this.deps.intervalMs ?? 30_000,
      () => this.reconcileAll(),
      {
        log: this.log,
      },
    );
  }

  async stop(): Promise<void> {
    this.deps.hub.off('connected', this.onConnected);
    await this.job?.stop();
    this.job = undefined;
  }

  /** One pass over every domain that should be active. */
  async reconcileAll(): Promise<void> {
    const rows = await this.deps.db
      .selectFrom('storage_domains')
      .selectAll()
      .where('state', 'in', ['active', 'inactive'])
      .execute();
    for (const row of rows) {
      try {
        await this.reconcile(row);
      } catch (err) {
        this.log.warn({ err, domain_id: row.id }, 'storage domain pass failed');
      }
    }
  }

  /** Activates the data center's active domains on a host whose agent just connected. */
  private async activateOnHost(hostId: string): Promise<void> {
    try {
      const dc = await datacenterOfHost(this.deps.db, hostId);
      if (!dc) return;
      const rows = await this.deps.db
        .selectFrom('storage_domains')
        .selectAll()
        .where('datacenter_id', '=', dc)
        .where('state', 'in', ['active', 'inactive'])
        .where((eb) => eb.or([eb('host_id', 'is', null), eb('host_id', '=', hostId)]))
        .execute();
      for (const row of rows) {
        const reach = await this.activateOn(row, [hostId]);
        if (reach.reached.length > 0 && row.state === 'inactive') await this.reconcile(row);
      }
    } catch (err) {
      this.log.warn({ err, host_id: hostId }, 'activating storage domains on a connected host failed');
    }
  }

  /** Activates one domain where it belongs and moves it between active and inactive. */
  async reconcile(row: StorageDomainRow): Promise<Reach> {
    const reach = await this.activateOn(row, await this.hostsFor(row));
    const fresh = await findStorageDomain(this.deps.db, row.id);
    // Maintenance (or a detach) finished while this pass was activating: undo what the pass did, or
    // the hosts would keep a domain active that the engine has put away.
    if (!fresh || fresh.state === 'maintenance' || fresh.state === 'unattached') {
      await Promise.allSettled(
        reach.reached.map((h) => this.deps.hub.call(h, 'storage.deactivate', { id: row.id })),
      );
      return reach;
    }
    // An action took the domain over meanwhile (locked): leave its state to the operation.
    if (fresh.state !== 'active' && fresh.state !== 'inactive') return reach;
    const next: StorageDomainState = reach.reached.length > 0 ? 'active' : 'inactive';
    if (next !== fresh.state) {
      const reason =
        next === 'active'
          ? `reachable from ${reach.reached.length} host(s)`
          : reach.failed.length > 0
            ? `no host can reach it: ${reach.failed.map((f) => f.code).join(', ')}`
            : 'no host of its data center is up';
      await this.transition(fresh, next, reason, next === 'active' ? 'info' : 'warning', { reach });
    }
    return reach;
  }

  /** The up, connected hosts that should have the domain active. */
  private async hostsFor(row: StorageDomainRow): Promise<string[]> {
    if (!row.datacenter_id) return [];
    const up = (await upHostsInDatacenter(this.deps.db, row.datacenter_id)).map((h) => h.id);
    const candidates = row.host_id ? up.filter((h) => h === row.host_id) : up;
    return candidates.filter((h) => this.deps.hub.isConnected(h));
  }

  private async engineId(): Promise<string> {
    this.engineIdCache ??= await engineId(this.deps.db);
    return this.engineIdCache;
  }

  /** `storage.activate` on each host; capacity from the first host that answers. */
  private async activateOn(row: StorageDomainRow, hosts: string[], createMetadata = false): Promise<Reach> {
    const reach: Reach = { reached: [], failed: [] };
    const engine = await this.engineId();
    const results = await Promise.allSettled(
      hosts.map((h) =>
        this.deps.hub.call(
          h,
          'storage.activate',
          { domain: agentDomainRef(row), engine_id: engine, create_metadata: createMetadata },
          { timeoutMs: ACTIVATE_TIMEOUT_MS },
        ),
      ),
    );
    let capacity: { total_bytes: number; free_bytes: number } | undefined;
    results.forEach((r, i) => {
      const host = hosts[i] as string;
      if (r.status === 'fulfilled') {
        reach.reached.push(host);
        capacity ??= { total_bytes: r.value.total_bytes, free_bytes: r.value.free_bytes };
      } else {
        const code = agentCodeOf(r.reason) ?? (r.reason as { code?: string }).code ?? 'error';
        reach.failed.push({ host_id: host, code, message: String((r.reason as Error).message) });
        this.log.warn(
          { domain_id: row.id, host_id: host, err: r.reason },
          'storage domain activation failed',
        );
      }
    });
    if (capacity) await setStorageDomainCapacity(this.deps.db, row.id, capacity);
    return reach;
  }

  private async deactivateOn(row: StorageDomainRow, hosts: string[], release = false): Promise<void> {
    await Promise.all(
      hosts.map((h) =>
        this.deps.hub.call(h, 'storage.deactivate', { id: row.id, ...(release ? { release } : {}) }),
      ),
    );
  }

  private async transition(
    row: StorageDomainRow,
    state: StorageDomainState,
    reason: string,
    severity: 'info' | 'warning',
    details: Record<string, unknown>,
    datacenterId?: string | null,
    userId?: string | null,
  ): Promise<StorageDomainRow> {
    return this.deps.db.transaction().execute(async (tx) => {
      const next = await setStorageDomainState(tx, row.id, state, reason, datacenterId);
      await this.deps.audit.record(tx, {
        kind: `storage_domain.${state}`,
        severity,
        message: `Storage domain ${row.name} is ${state}: ${reason}`,
        object: { kind: 'storage_domain', id: row.id, name: row.name },
        ...(userId !== undefined ? { userId } : {}),
        details: { from: row.state, ...details },
      });
      return next ?? row;
    });
  }

  /**
   * Attaches (when unattached) and activates a domain right away, without an operation: for the
   * engine's own set-up (all-in-one `npm start`), which must finish before the engine is ready.
   */
  async ensureActive(id: string, datacenterId: string): Promise<StorageDomainRow> {
    let row = await findStorageDomain(this.deps.db, id);
    if (!row) throw new NotFound('storage_domain_not_found', `storage domain ${id} does not exist`);
    if (row.state === 'unattached') {
      const reach = await this.activateOn(
        { ...row, datacenter_id: datacenterId },
        await this.hostsFor({ ...row, datacenter_id: datacenterId }),
        true,
      );
      if (reach.reached.length === 0)
        throw unreachable(row, reach.failed[0]?.message ?? 'no host is up', reach);
      row = await this.transition(row, 'maintenance', 'attached', 'info', { reach }, datacenterId, null);
    }
    if (row.state === 'maintenance' || row.state === 'inactive') {
      const reach = await this.activateOn(row, await this.hostsFor(row));
      if (reach.reached.length === 0)
        throw unreachable(row, reach.failed[0]?.message ?? 'no host is up', reach);
      row = await this.transition(
        row,
        'active',
        `active on ${reach.reached.length} host(s)`,
        'info',
        { reach },
        undefined,
        null,
      );
    } else if (row.state === 'active') {
      await this.reconcile(row);
    }
    return row;
  }

  private register(): void {
    const r = this.deps.registry;
    r.register('storage_domain.attach', {
      resumable: true,
      run: (ctx) => this.withRollback(ctx, (row) => this.attach(ctx, row)),
    });
    r.register('storage_domain.activate', {
      resumable: true,
      run: (ctx) => this.withRollback(ctx, (row) => this.activate(ctx, row)),
    });
    r.register('storage_domain.maintenance', {
      resumable: true,
      run: (ctx) => this.withRollback(ctx, (row) => this.maintenance(ctx, row)),
    });
    r.register('storage_domain.detach', {
      resumable: true,
      run: (ctx) => this.withRollback(ctx, (row) => this.detach(ctx, row)),
    });
  }

  /** Runs an action on a locked domain; on failure the domain goes back to where it was. */
  private async withRollback(
    ctx: OperationContext,
    fn: (row: StorageDomainRow) => Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    const id = ctx.op.target?.id;
    const row = id ? await findStorageDomain(this.deps.db, id) : undefined;
    if (!row) throw new NotFound('storage_domain_not_found', `storage domain ${id} no longer exists`);
    // A resumed run whose work is done already (the state moved on): nothing to do again.
    if (row.state !== 'locked') return { state: row.state, already_done: true };
    try {
      return await fn(row);
    } catch (err) {
      const from = ((ctx.op.input as { from_state?: StorageDomainState }).from_state ??
        'maintenance') as StorageDomainState;
      await this.transition(
        row,
        from,
        `${ctx.op.type} failed: ${(err as Error).message}`,
        'warning',
        {
          operation_id: ctx.op.id,
        },
        undefined,
        ctx.op.created_by,
      ).catch((e: unknown) => this.log.error({ err: e }, 'rolling back a storage domain state failed'));
      throw err;
    }
  }

  /** attach: write (or claim) the metadata from one host of the data center, then maintenance. */
  private async attach(ctx: OperationContext, row: StorageDomainRow): Promise<Record<string, unknown>> {
    const dcId = (ctx.op.input as { datacenter_id: string }).datacenter_id;
    const up = (await upHostsInDatacenter(this.deps.db, dcId)).map((h) => h.id);
    const host = (row.host_id ? up.filter((h) => h === row.host_id) : up).find((h) =>
      this.deps.hub.isConnected(h),
    );
    if (!host) throw unreachable(row, 'no connected host of the data center is up');
    await ctx.progress(0.2, `writing the domain metadata from host ${host}`);
    const reach = await this.activateOn({ ...row, datacenter_id: dcId }, [host], true);
    if (reach.reached.length === 0)
      throw unreachable(row, reach.failed[0]?.message ?? 'activation failed', reach);
    // Attached but not in use until activated: no host keeps it active.
    await this.deactivateOn(row, [host]);
    await this.transition(
      row,
      'maintenance',
      'attached',
      'info',
      { operation_id: ctx.op.id, datacenter_id: dcId },
      dcId,
      ctx.op.created_by,
    );
    return { state: 'maintenance', datacenter_id: dcId, host_id: host };
  }

  private async activate(ctx: OperationContext, row: StorageDomainRow): Promise<Record<string, unknown>> {
    const hosts = await this.hostsFor(row);
    if (hosts.length === 0) throw unreachable(row, 'no connected host of its data center is up');
    await ctx.progress(0.2, `activating on ${hosts.length} host(s)`);
    const reach = await this.activateOn(row, hosts);
    if (reach.reached.length === 0)
      throw unreachable(row, reach.failed[0]?.message ?? 'activation failed', reach);
    await this.transition(
      row,
      'active',
      `active on ${reach.reached.length} host(s)`,
      'info',
      { operation_id: ctx.op.id, reach },
      undefined,
      ctx.op.created_by,
    );
    return { state: 'active', ...reach };
  }

  private async maintenance(ctx: OperationContext, row: StorageDomainRow): Promise<Record<string, unknown>> {
    const hosts = await this.hostsFor(row);
    if (hosts[0]) await this.runBeforeRelease(row, hosts[0], 'maintenance');
    await ctx.progress(0.2, `deactivating on ${hosts.length} host(s)`);
    await this.deactivateOn(row, hosts);
    await this.transition(
      row,
      'maintenance',
      'maintenance',
      'info',
      { operation_id: ctx.op.id, hosts },
      undefined,
      ctx.op.created_by,
    );
    return { state: 'maintenance', hosts };
  }

  private async runBeforeRelease(
    row: StorageDomainRow,
    hostId: string,
    action: 'maintenance' | 'detach',
  ): Promise<void> {
    try {
      await this.deps.beforeRelease?.(row, hostId, action);
    } catch (err) {
      this.log.warn({ err, domain_id: row.id, action }, 'updating the domain before release failed');
    }
  }

  /** detach: clear the owner in the metadata (so another engine may import it), then unattached. */
  private async detach(ctx: OperationContext, row: StorageDomainRow): Promise<Record<string, unknown>> {
    const hosts = await this.hostsFor(row);
    const host = hosts[0];
    if (!host) throw unreachable(row, 'no connected host of its data center is up');
    await ctx.progress(0.2, `releasing the domain from host ${host}`);
    const reach = await this.activateOn(row, [host]);
    if (reach.reached.length === 0)
      throw unreachable(row, reach.failed[0]?.message ?? 'activation failed', reach);
    await this.runBeforeRelease(row, host, 'detach');
    await this.deactivateOn(row, [host], true);
    await this.transition(
      row,
      'unattached',
      'detached',
      'info',
      { operation_id: ctx.op.id, host_id: host },
      null,
      ctx.op.created_by,
    );
    return { state: 'unattached', host_id: host };
  }
}

function unreachable(row: StorageDomainRow, why: string, reach?: Reach): Unavailable {
  return new Unavailable('storage_domain_unreachable', `storage domain ${row.name}: ${why}`, {
    details: { id: row.id, ...(reach ? { failed: reach.failed } : {}) },
  });
}

/** Capacity refresh period from the environment (`VIREO_STORAGE_REFRESH_S`, 5…3600 s). */
export function storageRefreshMsFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env.VIREO_STORAGE_REFRESH_S;
  if (raw === undefined || raw === '') return 30_000;
  const s = Number(raw);
  if (!Number.isInteger(s) || s < 5 || s > 3600) {
    throw new Error(
      `VIREO_STORAGE_REFRESH_S must be an integer between 5 and 3600, not ${JSON.stringify(raw)}`,
    );
  }
  return s * 1000;
}
