import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { type ErrorCode, IMAGE_TRANSFER_MAX_BYTES, type ImageTransferCreate } from '@vireo/api';
import { parseContentRange } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { domainOrThrow } from '../controllers/disk-storage';
import { deleteDisk, hostsSeeingDomain, updateDisk } from '../db/repositories/disks';
import { findAgentEndpoint } from '../db/repositories/vms-console';
import type { Db } from '../db/schema';
import type { StorageDomainRow } from '../db/tables/storage';
import type { ImageTransferRow } from '../db/tables/transfers';
import { Conflict, InvalidInput, NotFound, Unavailable, VireoError } from '../errors';
import type { Actor } from '../services/actor';
import type { AuditRecorder, OperationCreator } from '../services/ports';
import { type AgentTls, getFromAgent, putToAgent, readAgentJson } from './agent-channel';
import { TransferAgents } from './agent-session';
import {
  checkDownloadDisk,
  checkUploadDomain,
  checkUploadInput,
  insertDownloadRows,
  insertUploadRows,
} from './create';
import {
  completeUploadDisk,
  findTransferDisk,
  getTransfer,
  listTransfers,
  updateTransfer,
} from './repository';

const MiB = 1024 * 1024;
const ACTIVE = ['initializing', 'transferring', 'finalizing'] as const;
const FINAL = new Set(['finished', 'failed', 'cancelled']);

/** The agent's refusals that are about the image (the user's input), passed on with their code. */
const IMAGE_CODES = new Set([
  'image_has_backing_file',
  'image_has_data_file',
  'image_json_filename',
  'image_too_large',
  'image_corrupt',
  'image_format_mismatch',
  'image_unsupported',
  'checksum_mismatch',
]);

/** 416: the upload does not continue where the host is. */
export class RangeNotSatisfiable extends VireoError {
  constructor(message: string, bytesDone: number) {
    super(416, 'transfer_offset_mismatch', message, { details: { bytes_done: bytesDone } });
  }
}

export interface DownloadStream {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

/** Image uploads and downloads (ADR 017). Routes call these; see docs/uploads.md. */
export interface TransferService {
  create(
    actor: Actor,
    input: ImageTransferCreate,
  ): Promise<{ transfer: ImageTransferRow; operationId: string }>;
  get(id: string): Promise<ImageTransferRow>;
  list(limit: number): Promise<ImageTransferRow[]>;
  /** Streams one `Content-Range` chunk of an upload to the host; resolves with the updated row. */
  upload(
    id: string,
    contentRange: string | undefined,
    body: Readable,
    contentLength: number | undefined,
  ): Promise<ImageTransferRow>;
  /** Opens a download (with an optional `Range`). */
  download(id: string, range: string | undefined): Promise<DownloadStream>;
  /** Upload: checksum + gate + move into place. Download: closes it. */
  finalize(actor: Actor, id: string): Promise<ImageTransferRow>;
  cancel(actor: Actor, id: string, reason?: string): Promise<ImageTransferRow>;
  /**
   * Ends an upload or download that has seen no data for `idleMs` (state `cancelled`, error
   * `transfer_expired`): the host drops the staging file, a disk the transfer created goes, an
   * existing disk is unlocked. Does nothing (undefined) when the transfer is not idle any more,
   * not expirable (finalizing, ended), or its host cannot be reached to remove the partial file.
   */
  expire(id: string, idleMs: number): Promise<ImageTransferRow | undefined>;
  /** Bytes seen so far by a running upload request (progress between requests comes from the row). */
  liveBytes(id: string): number | undefined;
  /** Resolves when the transfer's row changes in this engine, or after `ms`. */
  changed(id: string, ms: number, signal?: AbortSignal): Promise<void>;
}

export interface TransferServiceDeps {
  db: Db;
  hub: AgentHub;
  tls: AgentTls;
  audit: AuditRecorder;
  /** `cancel` (engine-ops' Operations has it) lets a cancelled transfer end its operation as cancelled. */
  operations: OperationCreator & { cancel?(id: string, actor: Actor): Promise<unknown> };
  log: Logger;
}

export function toErrorJson(err: unknown): {
  code: string;
  message: string;
  details?: Record<string, unknown>;
} {
  if (err instanceof VireoError) return { code: err.code, message: err.message, details: err.details };
  return { code: 'internal_error', message: 'the transfer failed' };
}

export function createTransferService(deps: TransferServiceDeps): TransferService {
  const { db, hub, audit, operations } = deps;
  const log = deps.log.child({ module: 'engine:transfers' });
  const agents = new TransferAgents(db, hub, log);
  const live = new Map<string, number>();
  const changes = new EventEmitter();
  changes.setMaxListeners(0);

  const notify = (id: string) => changes.emit(id);

  async function load(id: string): Promise<ImageTransferRow> {
    const row = await getTransfer(db, id);
    if (!row)
      throw new NotFound('image_transfer_not_found', `image transfer ${id} does not exist`, {
        details: { id },
      });
    return row;
  }

  /** Ends a transfer as failed or cancelled and undoes what it reserved (its new disk, the disk lock). */
  async function settle(
    row: ImageTransferRow,
    state: 'failed' | 'cancelled',
    error: { code: string; message: string; details?: Record<string, unknown> } | null,
    kind = `image_transfer.${state}`,
  ): Promise<ImageTransferRow> {
    agents.forget(row.id);
    const updated = await db.transaction().execute(async (tx) => {
      const r = await updateTransfer(
        tx,
        row.id,
        { state, error: error ? JSON.stringify(error) : null, finished_at: new Date() },
        [...ACTIVE],
      );
      if (!r) return undefined;
      if (r.disk_id && r.created_disk) await deleteDisk(tx, r.disk_id);
      else if (r.disk_id) await updateDisk(tx, r.disk_id, undefined, { state: 'ok' });
      await audit.record(tx, {
        kind,
        severity: state === 'failed' ? 'warning' : 'info',
        message: `image ${r.direction} ${r.iso_file ?? r.disk_id} ${state}${error ? `: ${error.message}` : ''}`,
        object: { kind: 'image_transfer', id: r.id },
        details: error ? { error } : {},
      });
      return r;
    });
    notify(row.id);
    return updated ?? load(row.id);
  }

  return {
    async create(actor, input) {
      if (input.direction === 'download') return createDownload(actor, input);
      return createUpload(actor, input);
    },

    get: load,
    list: (limit) => listTransfers(db, limit),

    async upload(id, contentRange, body, contentLength) {
      const row = await load(id);
      if (row.direction !== 'upload')
        throw new Conflict('transfer_invalid_state', 'this transfer is a download');
      if (row.state !== 'transferring') {
        throw new Conflict('transfer_invalid_state', `the transfer is ${row.state}`, {
          details: { state: row.state },
        });
      }
      const range = parseContentRange(contentRange);
      if (!range || range.total !== row.size_bytes) {
        throw new InvalidInput(
          'invalid_content_range',
          `Content-Range must be "bytes START-END/${row.size_bytes}"`,
          { details: { size_bytes: row.size_bytes } },
        );
      }
      // The length must be known up front: a body that ends early is then a broken request, never
      // a shorter chunk the host would wait on.
      if (contentLength !== range.end - range.start + 1) {
        throw new InvalidInput(
          'invalid_content_range',
          'Content-Length must equal the Content-Range length',
          {
            details: { content_length: contentLength ?? null, range_length: range.end - range.start + 1 },
          },
        );
      }
      if (live.has(id)) throw new Conflict('transfer_busy', 'another request is streaming to this transfer');
      const agent = await agents.ensure(row);
      if (range.start !== agent.bytesDone) {
        throw new RangeNotSatisfiable(`the upload continues at byte ${agent.bytesDone}`, agent.bytesDone);
      }
      const endpoint = await findAgentEndpoint(db, agent.hostId);
      if (!endpoint) throw new Unavailable('host_not_connected', 'the host is gone');
      live.set(id, range.start);
      let reply: Awaited<ReturnType<typeof putToAgent>> | undefined;
      let failure: unknown;
      try {
        reply = await putToAgent({
          endpoint,
          tls: deps.tls,
          transferId: id,
          secret: agent.secret,
          contentRange: `bytes ${range.start}-${range.end}/${range.total}`,
          contentLength: range.end - range.start + 1,
          body,
          onBytes: (n) => live.set(id, (live.get(id) ?? 0) + n),
        });
      } catch (err) {
        failure = err;
      } finally {
        live.delete(id);
      }
      // The host's count is the truth (what it wrote durably), whatever happened on the way.
      let bytesDone = typeof reply?.body.bytes_done === 'number' ? reply.body.bytes_done : undefined;
      if (bytesDone === undefined) {
        const details = reply?.body.error as { details?: { bytes_done?: unknown } } | undefined;
        if (typeof details?.details?.bytes_done === 'number') bytesDone = details.details.bytes_done;
      }
      if (bytesDone === undefined) {
        bytesDone = await hub
          .call(agent.hostId, 'transfer.status', { transfer_id: id })
          .then((s) => s.bytes_done)
          .catch(() => undefined);
      }
      const updated =
        bytesDone === undefined ? row : ((await updateTransfer(db, id, { bytes_done: bytesDone })) ?? row);
      notify(id);
      if (failure) {
        throw new Unavailable('unavailable', 'the upload stream to the host broke; resume at bytes_done', {
          cause: failure,
          details: { bytes_done: updated.bytes_done },
        });
      }
      if (reply && reply.status !== 200) {
        const err = (reply.body.error ?? {}) as { code?: string; message?: string };
        if (reply.status === 416)
          throw new RangeNotSatisfiable(err.message ?? 'offset mismatch', updated.bytes_done);
        if (reply.status === 409) throw new Conflict('transfer_busy', err.message ?? 'transfer busy');
        if (err.code === 'invalid_content_range')
          throw new InvalidInput('invalid_content_range', err.message ?? '');
        throw new VireoError(
          502,
          'agent_error',
          `the host refused the data: ${err.message ?? reply.status}`,
          {
            details: { agent_code: err.code, bytes_done: updated.bytes_done },
          },
        );
      }
      return updated;
    },

    async download(id, range) {
      const row = await load(id);
      if (row.direction !== 'download')
        throw new Conflict('transfer_invalid_state', 'this transfer is an upload');
      if (row.state !== 'transferring') {
        throw new Conflict('transfer_invalid_state', `the transfer is ${row.state}`, {
          details: { state: row.state },
        });
      }
      const agent = await agents.ensure(row);
      const endpoint = await findAgentEndpoint(db, agent.hostId);
      if (!endpoint) throw new Unavailable('host_not_connected', 'the host is gone');
      const res: IncomingMessage = await getFromAgent({
        endpoint,
        tls: deps.tls,
        transferId: id,
        secret: agent.secret,
        ...(range ? { range } : {}),
      });
      const status = res.statusCode ?? 502;
      if (status === 416) {
        res.resume();
        throw new VireoError(416, 'invalid_content_range', 'the range is outside the image', {
          details: { size_bytes: row.size_bytes },
        });
      }
      if (status !== 200 && status !== 206) {
        const body = await readAgentJson(res);
        throw new VireoError(502, 'agent_error', 'the host refused the download', {
          details: { agent: body },
        });
      }
      const headers: Record<string, string> = { 'accept-ranges': 'bytes' };
      for (const h of ['content-length', 'content-range'] as const) {
        const v = res.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      let served = 0;
      res.on('data', (c: Buffer) => {
        served += c.length;
      });
      res.once('end', () => {
        const end = Number(/\/?(\d+)-(\d+)/.exec(headers['content-range'] ?? '')?.[2] ?? served - 1) + 1;
        updateTransfer(db, id, { bytes_done: Math.min(end, row.size_bytes) })
          .then(() => notify(id))
          .catch((err: unknown) => log.warn({ err, transfer_id: id }, 'recording download progress failed'));
      });
      return { status, headers, body: res };
    },

    async finalize(actor, id) {
      const row = await load(id);
      if (row.direction === 'download') {
        if (row.state !== 'transferring') {
          throw new Conflict('transfer_invalid_state', `the transfer is ${row.state}`);
        }
        await agents.cancel(row);
        agents.forget(id);
        const done = await updateTransfer(db, id, { state: 'finished', finished_at: new Date() }, [
          'transferring',
        ]);
        notify(id);
        return done ?? load(id);
      }
      if (row.state !== 'transferring') {
        throw new Conflict('transfer_invalid_state', `the transfer is ${row.state}`, {
          details: { state: row.state },
        });
      }
      if (live.has(id)) throw new Conflict('transfer_busy', 'a data request is still streaming');
      const agent = await agents.ensure(row);
      if (agent.bytesDone !== row.size_bytes) {
        throw new Conflict('transfer_incomplete', `received ${agent.bytesDone} of ${row.size_bytes} bytes`, {
          details: { bytes_done: agent.bytesDone, size_bytes: row.size_bytes },
        });
      }
      const claimed = await updateTransfer(db, id, { state: 'finalizing' }, ['transferring']);
      if (!claimed) throw new Conflict('transfer_invalid_state', 'the transfer changed meanwhile');
      notify(id);
      let result: Awaited<ReturnType<AgentHub['call']>> & { sha256: string; virtual_size: number };
      try {
        result = (await hub.call(
          agent.hostId,
          'transfer.finalize',
          {
            transfer_id: id,
            ...(row.sha256 ? { sha256: row.sha256 } : {}),
            max_virtual_size: IMAGE_TRANSFER_MAX_BYTES,
            // Disks have a 1 MiB floor: the host refuses smaller images before moving them in.
            ...(row.disk_id ? { min_virtual_size: MiB } : {}),
          },
          { timeoutMs: 15 * 60_000 },
        )) as typeof result;
      } catch (err) {
        const agentCode = (err as { agentCode?: string }).agentCode;
        const code = agentCode && IMAGE_CODES.has(agentCode) ? (agentCode as ErrorCode) : undefined;
        const message = (err as Error).message.replace(/^.*?: /, '');
        const error = code
          ? new InvalidInput(code, `the image was refused: ${message}`, {
              cause: err,
              details: (err as VireoError).details ?? {},
            })
          : err;
        await settle(claimed, 'failed', toErrorJson(error));
        throw error;
      }
      if (row.disk_id && result.virtual_size < MiB) {
        await settle(claimed, 'failed', {
          code: 'image_unsupported',
          message: 'a disk must be at least 1 MiB',
        });
        throw new InvalidInput('image_unsupported', 'a disk image must be at least 1 MiB');
      }
      agents.forget(id);
      const finished = await db.transaction().execute(async (tx) => {
        const r = await updateTransfer(
          tx,
          id,
          { state: 'finished', sha256: result.sha256, finished_at: new Date() },
          ['finalizing'],
        );
        if (r?.disk_id && r.volume_id)
          await completeUploadDisk(tx, r.disk_id, r.volume_id, result.virtual_size);
        await audit.record(tx, {
          kind: 'image_transfer.finished',
          severity: 'info',
          message: `${actor.username} uploaded ${row.iso_file ?? `disk ${row.disk_id}`} (${row.size_bytes} bytes)`,
          object: { kind: 'image_transfer', id },
          userId: actor.userId,
          username: actor.username,
          details: { sha256: result.sha256, virtual_size: result.virtual_size },
        });
        return r;
      });
      notify(id);
      return finished ?? load(id);
    },

    async cancel(actor, id, reason) {
      const row = await load(id);
      if (FINAL.has(row.state)) {
        throw new Conflict('transfer_invalid_state', `the transfer is ${row.state} already`, {
          details: { state: row.state },
        });
      }
      // Ask the operation to end as cancelled first: it follows the transfer and would otherwise
      // see the transfer end and fail.
      if (!reason && row.operation_id && operations.cancel) {
        await operations.cancel(row.operation_id, actor).catch((err: unknown) => {
          log.info({ err, transfer_id: id }, 'the transfer operation could not be cancelled');
        });
      }
      await agents.cancel(row);
      log.info({ transfer_id: id, user: actor.username }, 'transfer cancelled');
      return settle(row, 'cancelled', reason ? { code: 'cancelled', message: reason } : null);
    },

    async expire(id, idleMs) {
      const row = await load(id);
      const idle = Date.now() - row.updated_at.getTime();
      if ((row.state !== 'initializing' && row.state !== 'transferring') || live.has(id) || idle < idleMs) {
        return undefined;
      }
      if (row.host_id) {
        // The partial file must go with the transfer: wait for the host rather than leak it.
        if (!hub.isConnected(row.host_id)) return undefined;
        // A restarted agent has forgotten the transfer: announcing it again finds the staging file.
        if (row.state === 'transferring') await agents.ensure(row);
        await hub.call(row.host_id, 'transfer.cancel', { transfer_id: row.id });
      }
      const minutes = Math.round((idleMs / 60_000) * 10) / 10;
      log.info({ transfer_id: id, idle_ms: idle }, 'transfer expired');
      return settle(
        row,
        'cancelled',
        {
          code: 'transfer_expired',
          message: `no data arrived for ${minutes} min: the transfer expired (start a new one)`,
          details: { idle_ms: idle, idle_timeout_ms: idleMs, bytes_done: row.bytes_done },
        },
        'image_transfer.expired',
      );
    },

    liveBytes: (id) => live.get(id),

    changed(id, ms, signal) {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          changes.off(id, done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        changes.once(id, done);
        signal?.addEventListener('abort', done, { once: true });
      });
    },
  };

  async function pickHost(domainId: string): Promise<{ domain: StorageDomainRow; hostId: string }> {
    const domain = await domainOrThrow(db, domainId);
    if (domain.state !== 'active') {
      throw new Conflict('storage_domain_state_invalid', `storage domain ${domain.name} is ${domain.state}`, {
        details: { state: domain.state },
      });
    }
    const hostId = (await hostsSeeingDomain(db, domain)).find((h) => hub.isConnected(h));
    if (!hostId) {
      throw new Unavailable('no_host_for_storage', `no connected host reaches storage domain ${domain.name}`);
    }
    return { domain, hostId };
  }

  /** After the rows are committed: the agent prepares the staging file; a failure fails the transfer. */
  async function startOnAgent(row: ImageTransferRow): Promise<ImageTransferRow> {
    try {
      await agents.ensure(row);
    } catch (err) {
      const code = (err as { agentCode?: string }).agentCode;
      const error =
        code === 'image_exists'
          ? new Conflict('iso_file_exists', `${row.iso_file ?? 'the image'} exists already in the domain`, {
              cause: err,
            })
          : err;
      await settle(row, 'failed', toErrorJson(error));
      throw error;
    }
    const r = await updateTransfer(db, row.id, { state: 'transferring' }, ['initializing']);
    notify(row.id);
    return r ?? load(row.id);
  }

  async function createUpload(actor: Actor, input: ImageTransferCreate) {
    const checked = checkUploadInput(input);
    const { domain, hostId } = await pickHost(checked.domainId);
    checkUploadDomain(domain, checked);
    const row = await db
      .transaction()
      .execute((tx) =>
        insertUploadRows(tx, { audit, operations }, { actor, input, checked, domain, hostId }),
      );
    return { transfer: await startOnAgent(row), operationId: row.operation_id as string };
  }

  async function createDownload(actor: Actor, input: ImageTransferCreate) {
    if (!input.disk_id) throw new InvalidInput('invalid_input', 'a download needs disk_id');
    const disk = checkDownloadDisk(await findTransferDisk(db, input.disk_id), input.disk_id);
    const { hostId } = await pickHost(disk.storage_domain_id);
    const row = await db
      .transaction()
      .execute((tx) => insertDownloadRows(tx, { audit, operations }, { actor, disk, hostId }));
    let size: number;
    try {
      size = (await agents.announce(row)).size_bytes;
    } catch (err) {
      await settle(row, 'failed', toErrorJson(err));
      throw err;
    }
    const started = await updateTransfer(
      db,
      row.id,
      { state: 'transferring', size_bytes: Math.max(1, size) },
      ['initializing'],
    );
    notify(row.id);
    return { transfer: started ?? row, operationId: row.operation_id as string };
  }
}
