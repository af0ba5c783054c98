import { createHash, type Hash, timingSafeEqual } from 'node:crypto';
import { lstat, mkdir, open, rmdir, stat, truncate, unlink } from 'node:fs/promises';
import type {
  TransferCancelResult,
  TransferFinalizeParams,
  TransferFinalizeResult,
  TransferFormat,
  TransferStartParams,
  TransferStatus,
  TransferTarget,
} from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError } from '../../util/errors';
import type { RemoteTransferTargets } from '../nfs/transfers';
import { freeBytes, gateUpload, moveIntoPlace, sha256OfFile } from './finalize';
import { downloadPath, stagingPath, targetPath } from './paths';

/** Maps an active storage domain's id to its canonical root directory (`<path>/<domain id>`). */
export type DomainRootResolver = (domainId: string) => Promise<string>;

/** One transfer the agent knows (in memory; the staging file is the durable part). */
export interface Transfer {
  id: string;
  direction: 'upload' | 'download';
  domainId: string;
  root: string;
  target: TransferTarget;
  format: TransferFormat;
  /** Uploads: the announced size. Downloads: the file's size at start. */
  size: number;
  /** The final image path (upload destination or download source). */
  targetPath: string;
  /** Uploads: the staging file. Downloads from a remote domain: the local copy being served. */
  staging?: { dir: string; path: string };
  /** The domain is reached through {@link RemoteTransferTargets} (userspace-mode nfs), not `root`. */
  remote: boolean;
  replace: boolean;
  secretDigest: Buffer;
  bytesDone: number;
  /** SHA-256 of bytes `[0, hashedUpTo)`, while uploads arrive in order in this process. */
  hash?: Hash;
  hashedUpTo: number;
  /** A data request or a finalize is running; a second one is refused. */
  busy: boolean;
  /** Aborts the running data request (cancel). */
  abort?: () => void;
}

const digest = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

/**
 * The agent's side of image transfers: a staging file per upload inside the domain
 * (`<root>/staging/<id>.part`), resumable by offset; at finalize the checksum, the hostile-image
 * gate and only then the move into `images/`. Downloads stream the target file. State is in memory
 * and rebuilt by a repeated `transfer.start` (the staging file's size is the resume offset).
 */
export class TransferManager {
  private readonly transfers = new Map<string, Transfer>();

  constructor(
    private readonly resolveRoot: DomainRootResolver,
    private readonly log: Logger,
    /** Domains that are no local directory (userspace-mode nfs, ADR 027): staged here, placed there. */
    private readonly remote?: RemoteTransferTargets,
  ) {}

  /** `transfer.start`: idempotent; a repeat replaces the secret and keeps the received bytes. */
  async start(p: TransferStartParams): Promise<TransferStatus> {
    const id = p.transfer_id.toLowerCase();
    const existing = this.transfers.get(id);
    if (existing) {
      if (existing.direction !== p.direction || existing.domainId !== p.domain_id.toLowerCase()) {
        throw new AgentError('invalid_params', `transfer ${id} exists with other parameters`);
      }
      existing.secretDigest = digest(p.secret);
      return this.statusOf(existing);
    }
    const remote = this.remote?.owns(p.domain_id) ? this.remote : undefined;
    // A remote domain's root is a local stand-in: only staging files live under it.
    const root = remote ? remote.stagingRoot(p.domain_id) : await this.resolveRoot(p.domain_id);
    const { path } = targetPath(root, p.target);
    const base = {
      id,
      direction: p.direction,
      domainId: p.domain_id.toLowerCase(),
      root,
      target: p.target,
      format: p.format,
      targetPath: path,
      replace: p.replace ?? false,
      secretDigest: digest(p.secret),
      hashedUpTo: 0,
      busy: false,
      remote: remote !== undefined,
    };
    if (p.direction === 'download' && remote) {
      const staging = downloadPath(root, id);
      await mkdir(staging.dir, { recursive: true, mode: 0o750 });
      const size = await remote.fetch({
        domainId: p.domain_id,
        target: p.target,
        format: p.format,
        into: staging.path,
      });
      const t: Transfer = { ...base, targetPath: staging.path, staging, size, bytesDone: 0 };
      this.transfers.set(id, t);
      return this.statusOf(t);
    }
    if (p.direction === 'download') {
      const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
        throw new AgentError('image_not_found', 'the image to download does not exist', {
          cause: err,
          details: { target: p.target },
        });
      });
      if (!info.isFile()) throw new AgentError('image_invalid', 'the image to download is not a file');
      const t: Transfer = { ...base, size: info.size, bytesDone: 0 };
      this.transfers.set(id, t);
      return this.statusOf(t);
    }

    if (!p.size_bytes) throw new AgentError('invalid_params', 'size_bytes is required for uploads');
    if (!base.replace && (remote ? await remote.exists(p.domain_id, p.target) : await exists(path))) {
      throw new AgentError('image_exists', 'the target image exists already', {
        details: { target: p.target },
      });
    }
    const staging = stagingPath(root, id);
    await mkdir(staging.dir, { recursive: true, mode: 0o750 });
    // 'a' creates the file or keeps what an earlier agent process received.
    const handle = await open(staging.path, 'a', 0o640);
    let received: number;
    try {
      received = (await handle.stat()).size;
    } finally {
      await handle.close();
    }
    if (received > p.size_bytes) {
      // Cannot be a resume of this transfer: start over rather than keep foreign bytes.
      await truncate(staging.path, 0);
      received = 0;
    }
    if (remote) {
      // Both sides must have room: the rest of the upload here, the whole image on the domain.
      const here = await freeBytes(staging.dir);
      const there = await remote.freeBytes(p.domain_id);
      if (here < p.size_bytes - received || there < p.size_bytes) {
        await unlink(staging.path).catch(() => undefined);
        await removeIfEmpty(staging.dir);
        throw new AgentError('image_too_large', 'not enough free space for the upload', {
          details: { size_bytes: p.size_bytes, staging_free_bytes: here, domain_free_bytes: there },
        });
      }
    }
    const t: Transfer = { ...base, size: p.size_bytes, staging, bytesDone: received };
    if (received === 0) t.hash = createHash('sha256');
    this.transfers.set(id, t);
    this.log.info(
      { transfer_id: id, direction: p.direction, size: t.size, resumed_at: received },
      'transfer started',
    );
    return this.statusOf(t);
  }

  /** `transfer.status`. */
  status(transferId: string): TransferStatus {
    return this.statusOf(this.get(transferId));
  }

  /** The transfer, or `transfer_not_found`. */
  get(transferId: string): Transfer {
    const t = this.transfers.get(transferId.toLowerCase());
    if (!t) throw new AgentError('transfer_not_found', `transfer ${transferId} is not known on this host`);
    return t;
  }

  /** Whether `secret` is the transfer's (constant time). */
  authorized(t: Transfer, secret: string): boolean {
    return timingSafeEqual(digest(secret), t.secretDigest);
  }

  /**
   * `transfer.finalize`: requires every byte; verifies the checksum, runs the gate, moves the image
   * into place. Any rejection removes the staging file: nothing of a refused image stays in the
   * domain, and the transfer is forgotten.
   */
  async finalize(p: TransferFinalizeParams): Promise<TransferFinalizeResult> {
    const t = this.get(p.transfer_id);
    if (t.direction !== 'upload' || !t.staging) {
      throw new AgentError('invalid_params', 'only uploads are finalized');
    }
    if (t.busy) throw new AgentError('transfer_busy', 'a data request is still streaming');
    if (t.bytesDone !== t.size) {
      throw new AgentError('transfer_incomplete', `received ${t.bytesDone} of ${t.size} bytes`, {
        details: { bytes_done: t.bytesDone, size_bytes: t.size },
      });
    }
    t.busy = true;
    const staging = t.staging;
    try {
      const sha256 =
        t.hash && t.hashedUpTo === t.size ? t.hash.digest('hex') : await sha256OfFile(staging.path);
      t.hash = undefined;
      if (p.sha256 && p.sha256 !== sha256) {
        throw new AgentError('checksum_mismatch', 'the image does not have the announced SHA-256', {
          details: { expected: p.sha256, actual: sha256 },
        });
      }
      // The staged bytes already occupy their space, so they count as free for this image; a remote
      // domain's own free space is what the placed image will fill.
      const room =
        this.remote && t.remote
          ? await this.remote.freeBytes(t.domainId)
          : (await freeBytes(staging.dir)) + t.size;
      const inspected = await gateUpload({
        staging: staging.path,
        stagingDir: staging.dir,
        format: t.format,
        maxVirtualSize: Math.min(p.max_virtual_size, room),
      });
      if (p.min_virtual_size !== undefined && inspected.virtualSize < p.min_virtual_size) {
        throw new AgentError('image_unsupported', `the image is smaller than ${p.min_virtual_size} bytes`, {
          details: { virtual_size: inspected.virtualSize, min_virtual_size: p.min_virtual_size },
        });
      }
      if (this.remote && t.remote) {
        await this.remote.place({
          domainId: t.domainId,
          target: t.target,
          format: t.format,
          staged: staging.path,
          replace: t.replace,
        });
        await unlink(staging.path);
      } else {
        await moveIntoPlace({
          staging: staging.path,
          target: t.targetPath,
          root: t.root,
          replace: t.replace,
        });
      }
      this.transfers.delete(t.id);
      await removeIfEmpty(staging.dir);
      this.log.info({ transfer_id: t.id, virtual_size: inspected.virtualSize }, 'upload finalized');
      return {
        transfer_id: t.id,
        sha256,
        virtual_size: inspected.virtualSize,
        actual_size: inspected.actualSize ?? t.size,
      };
    } catch (err) {
      this.log.info({ transfer_id: t.id, err }, 'upload refused at finalize');
      await this.discard(t);
      throw err;
    } finally {
      t.busy = false;
    }
  }

  /** `transfer.cancel`: aborts a running data request and removes the staging file. Idempotent. */
  async cancel(transferId: string): Promise<TransferCancelResult> {
    const t = this.transfers.get(transferId.toLowerCase());
    if (!t) return { transfer_id: transferId.toLowerCase(), removed: false };
    t.abort?.();
    await this.discard(t);
    return { transfer_id: t.id, removed: true };
  }

  /** Forgets every transfer (agent shutdown); staging files stay for a resume. */
  close(): void {
    for (const t of this.transfers.values()) t.abort?.();
    this.transfers.clear();
  }

  private async discard(t: Transfer): Promise<void> {
    this.transfers.delete(t.id);
    if (!t.staging) return;
    await unlink(t.staging.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await removeIfEmpty(t.staging.dir);
  }

  private statusOf(t: Transfer): TransferStatus {
    return {
      transfer_id: t.id,
      direction: t.direction,
      bytes_done: t.bytesDone,
      size_bytes: t.size,
      busy: t.busy,
    };
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Removes the staging directory once no upload uses it (another upload may: then it stays). */
async function removeIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}
