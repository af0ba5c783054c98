import { randomBytes } from 'node:crypto';
import type { TransferStatus, TransferTarget } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import type { Db } from '../db/schema';
import type { ImageTransferRow } from '../db/tables/transfers';
import { Unavailable } from '../errors';
import { updateTransfer } from './repository';

/**
 * The host side of transfers: announcing a transfer to the agent that holds its staging file, with
 * a per-transfer bearer secret kept in memory only (after an engine restart the transfer is
 * announced again and gets a new one), and cancelling it there.
 */
export class TransferAgents {
  private readonly secrets = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly hub: AgentHub,
    private readonly log: Logger,
  ) {}

  /** The host holding the transfer; `503 host_not_connected` when it is not reachable now. */
  requireHost(row: ImageTransferRow): string {
    if (!row.host_id || !this.hub.isConnected(row.host_id)) {
      throw new Unavailable('host_not_connected', 'the host holding this transfer is not connected', {
        details: { host_id: row.host_id },
      });
    }
    return row.host_id;
  }

  /** Announces the transfer to its host under a fresh secret (`transfer.start`), which is kept. */
  async announce(row: ImageTransferRow): Promise<TransferStatus> {
    const hostId = this.requireHost(row);
    const secret = randomBytes(32).toString('base64url');
    const status = await this.hub.call(hostId, 'transfer.start', {
      transfer_id: row.id,
      direction: row.direction,
      domain_id: row.storage_domain_id,
      target: targetOf(row),
      format: row.format,
      ...(row.direction === 'upload' ? { size_bytes: row.size_bytes } : {}),
      secret,
      ...(row.direction === 'upload' && !row.created_disk && row.disk_id ? { replace: true } : {}),
    });
    this.secrets.set(row.id, secret);
    return status;
  }

  /** Makes sure the agent knows the transfer and this engine holds its secret; returns the agent's offset. */
  async ensure(row: ImageTransferRow): Promise<{ hostId: string; secret: string; bytesDone: number }> {
    const hostId = this.requireHost(row);
    const known = this.secrets.get(row.id);
    if (known) return { hostId, secret: known, bytesDone: row.bytes_done };
    const status = await this.announce(row);
    if (status.bytes_done !== row.bytes_done && row.direction === 'upload') {
      await updateTransfer(this.db, row.id, { bytes_done: status.bytes_done });
    }
    return { hostId, secret: this.secrets.get(row.id) as string, bytesDone: status.bytes_done };
  }

  /** Forgets the transfer's secret (it ended, or its host must be told again). */
  forget(id: string): void {
    this.secrets.delete(id);
  }

  /** Asks the host to drop the transfer; a host that is away or refuses is only logged. */
  async cancel(row: ImageTransferRow): Promise<void> {
    if (!row.host_id || !this.hub.isConnected(row.host_id)) return;
    await this.hub.call(row.host_id, 'transfer.cancel', { transfer_id: row.id }).catch((err: unknown) => {
      this.log.warn({ err, transfer_id: row.id }, 'the agent could not cancel the transfer');
    });
  }
}

/** What the transfer reads or writes on the domain: an ISO file or one volume of a disk. */
export function targetOf(row: ImageTransferRow): TransferTarget {
  if (row.iso_file) return { kind: 'iso', file: row.iso_file };
  if (!row.disk_id || !row.volume_id) throw new Error('transfer without a target');
  return { kind: 'volume', disk_id: row.disk_id, volume_id: row.volume_id };
}
