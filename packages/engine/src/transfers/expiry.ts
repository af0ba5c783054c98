import type { Logger } from 'pino';
import { type LeasedJob, runLeased } from '../controllers/lease';
import type { Db } from '../db/schema';
import type { TransferService } from './service';

/** An upload or download that sees no data this long is expired. */
export const DEFAULT_TRANSFER_IDLE_TIMEOUT_MS = 10 * 60_000;

/**
 * `VIREO_TRANSFER_IDLE_TIMEOUT_MS` (≥ 1000), else 10 minutes. A single `PUT` may stream for up to
 * the engine's request timeout (2 min) without touching the row, but a request streaming through
 * this engine is never expired, whatever the setting.
 */
export function transferIdleTimeoutMsFromEnv(env: NodeJS.ProcessEnv): number {
  const v = Number(env.VIREO_TRANSFER_IDLE_TIMEOUT_MS);
  return Number.isInteger(v) && v >= 1000 ? v : DEFAULT_TRANSFER_IDLE_TIMEOUT_MS;
}

export interface TransferExpiryOptions {
  db: Db;
  transfers: Pick<TransferService, 'expire'>;
  log: Logger;
  idleMs: number;
  /** How often to look; default a quarter of the idle time, between 1 s and 1 min. */
  intervalMs?: number;
  holder?: string;
}

/**
 * The leased periodic job (`image_transfers.expire`, one engine at a time) that expires idle
 * transfers: their rows are found by `updated_at` (every chunk a host stores moves it), and each is
 * ended by {@link TransferService.expire}, which re-checks idleness and removes the partial file first.
 */
export class TransferExpiry {
  private job: LeasedJob | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: TransferExpiryOptions) {
    this.log = opts.log.child({ module: 'engine:transfer-expiry' });
  }

  start(): void {
    if (this.job) return;
    const interval =
      this.opts.intervalMs ?? Math.min(60_000, Math.max(1000, Math.floor(this.opts.idleMs / 4)));
    this.job = runLeased(
      this.opts.db,
      'image_transfers.expire',
      interval,
      async () => {
        await this.pass();
      },
      { log: this.opts.log, ...(this.opts.holder ? { holder: this.opts.holder } : {}) },
    );
  }

  async stop(): Promise<void> {
    await this.job?.stop();
    this.job = undefined;
  }

  /** One look at every idle transfer; resolves with the ids it expired. */
  async pass(): Promise<string[]> {
    const cutoff = new Date(Date.now() - this.opts.idleMs);
    const idle = await this.opts.db
      .selectFrom('image_transfers')
      .select('id')
      .where('state', 'in', ['initializing', 'transferring'])
      .where('updated_at', '<', cutoff)
      .orderBy('updated_at')
      .limit(100)
      .execute();
    const expired: string[] = [];
    for (const { id } of idle) {
      try {
        if (await this.opts.transfers.expire(id, this.opts.idleMs)) expired.push(id);
      } catch (err) {
        // Next pass retries (the host may be busy or reconnecting).
        this.log.warn({ err, transfer_id: id }, 'expiring an idle transfer failed; will retry');
      }
    }
    return expired;
  }
}
