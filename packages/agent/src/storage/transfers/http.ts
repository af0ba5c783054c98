import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { parseContentRange, resolveRange, TRANSFER_HTTP_PREFIX } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError, toAgentError } from '../../util/errors';
import type { Transfer, TransferManager } from './manager';

const WRITE_BATCH_BYTES = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function replyError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): void {
  reply(res, status, { error: { code, message, ...(details ? { details } : {}) } });
}

const STATUS_OF: Record<string, number> = {
  transfer_not_found: 404,
  transfer_busy: 409,
  invalid_params: 400,
};

/**
 * The data endpoint (`PUT`/`GET /transfers/v1/<id>`) on the agent's mTLS server. Returns false for
 * other paths. Every request also needs the transfer's bearer secret: the client certificate says
 * "an engine of this CA", the secret says "the engine that started this transfer".
 */
export function transferRequestHandler(manager: TransferManager, log: Logger) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    if (!url.startsWith(TRANSFER_HTTP_PREFIX)) return false;
    const id = url.slice(TRANSFER_HTTP_PREFIX.length).split('?')[0] ?? '';
    void serve(manager, log, id, req, res).catch((err: unknown) => {
      const e = toAgentError(err);
      log.warn({ err, transfer_id: id }, 'transfer request failed');
      replyError(res, STATUS_OF[e.code] ?? 500, e.code, e.message);
    });
    return true;
  };
}

async function serve(
  manager: TransferManager,
  log: Logger,
  id: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (!UUID.test(id)) return replyError(res, 404, 'transfer_not_found', 'no such transfer');
  const t = manager.get(id);
  const auth = req.headers.authorization ?? '';
  const secret = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  if (!secret || !manager.authorized(t, secret)) {
    return replyError(res, 403, 'transfer_forbidden', 'missing or wrong transfer secret');
  }
  if (req.method === 'PUT' && t.direction === 'upload') return receive(t, log, req, res);
  if (req.method === 'GET' && t.direction === 'download') return send(t, req, res);
  res.setHeader('allow', t.direction === 'upload' ? 'PUT' : 'GET');
  return replyError(res, 405, 'method_not_allowed', `${req.method} is not allowed on an ${t.direction}`);
}

/** Appends one `Content-Range` chunk to the staging file, streaming (backpressure: one write at a time). */
async function receive(t: Transfer, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const range = parseContentRange(req.headers['content-range']);
  if (!range || range.total !== t.size) {
    return replyError(res, 400, 'invalid_content_range', `Content-Range must be bytes START-END/${t.size}`);
  }
  if (t.busy) return replyError(res, 409, 'transfer_busy', 'another request is streaming to this transfer');
  if (range.start !== t.bytesDone) {
    return replyError(res, 416, 'transfer_offset_mismatch', `the upload continues at byte ${t.bytesDone}`, {
      bytes_done: t.bytesDone,
    });
  }
  const expected = range.end - range.start + 1;
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) !== expected) {
    return replyError(res, 400, 'invalid_content_range', 'Content-Length does not match Content-Range');
  }
  const staging = t.staging;
  if (!staging) throw new AgentError('internal_error', 'upload without a staging file');

  t.busy = true;
  let aborted = false;
  t.abort = () => {
    aborted = true;
    req.destroy();
  };
  const handle = await open(staging.path, 'r+');
  let position = range.start;
  let failure: unknown;
  // Network chunks are small (TLS records); writing them in batches of about 1 MiB costs far fewer
  // system calls, and at most one batch is in memory.
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = async () => {
    if (batched === 0) return;
    const buffers = batch;
    const length = batched;
    batch = [];
    batched = 0;
    let written = 0;
    while (written < length) {
      const rest = written === 0 ? buffers : [Buffer.concat(buffers).subarray(written)];
      const { bytesWritten } = await handle.writev(rest, position + written);
      written += bytesWritten;
    }
    // Only contiguous bytes from 0 extend the running checksum (else finalize re-reads the file).
    if (t.hash && t.hashedUpTo === position) {
      for (const b of buffers) t.hash.update(b);
      t.hashedUpTo += length;
    }
    position += length;
    t.bytesDone = position;
  };
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (position + batched + chunk.length > range.end + 1) {
        throw new AgentError('invalid_params', 'more bytes than the Content-Range announced');
      }
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= WRITE_BATCH_BYTES) await flush();
    }
  } catch (err) {
    failure = err;
  } finally {
    // What arrived counts (it is in order and within the range): a resume continues after it.
    await flush().catch((err: unknown) => {
      failure ??= err;
    });
    await handle.sync().catch(() => undefined);
    await handle.close();
    t.busy = false;
    t.abort = undefined;
  }
  if (aborted) return;
  if (failure instanceof AgentError) return replyError(res, 400, failure.code, failure.message);
  if (failure) {
    log.info({ transfer_id: t.id, bytes_done: t.bytesDone, err: failure }, 'upload request interrupted');
    res.destroy();
    return;
  }
  if (position !== range.end + 1) {
    return replyError(res, 400, 'transfer_short_body', 'the request ended before the announced range', {
      bytes_done: t.bytesDone,
    });
  }
  reply(res, 200, { transfer_id: t.id, bytes_done: t.bytesDone, size_bytes: t.size });
}

/** Streams the download (one range at most), with the file's size pinned at start. */
async function send(t: Transfer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const range = resolveRange(req.headers.range, t.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${t.size}` }).end();
    return;
  }
  const length = range.end - range.start + 1;
  res.writeHead(range.partial ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(length),
    'accept-ranges': 'bytes',
    ...(range.partial ? { 'content-range': `bytes ${range.start}-${range.end}/${t.size}` } : {}),
  });
  if (length === 0) {
    res.end();
    return;
  }
  const source = createReadStream(t.targetPath, {
    start: range.start,
    end: range.end,
    highWaterMark: 1 << 20,
  });
  await pipeline(source, res).catch(() => res.destroy());
  t.bytesDone = range.end + 1;
}
