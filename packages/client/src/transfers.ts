import type { ImageTransfer, ImageTransferCreate, ImageTransferCreated } from '@vireo/api';
import type { FetchResponse, VireoClient } from './client';
import { ApiError, VireoClientError } from './errors';

/**
 * Node's file and stream modules, loaded on first use: these helpers run in Node (CLI, tests), and
 * importing them lazily keeps `@vireo/client` loadable in the browser bundle, which never calls them.
 */
async function nodeModules() {
  // Specifiers in variables: browser bundlers leave them alone instead of stubbing them noisily.
  const load = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);
  const [fs, fsp, crypto, stream, streamPromises] = (await Promise.all([
    load('node:fs'),
    load('node:fs/promises'),
    load('node:crypto'),
    load('node:stream'),
    load('node:stream/promises'),
  ])) as [
    typeof import('node:fs'),
    typeof import('node:fs/promises'),
    typeof import('node:crypto'),
    typeof import('node:stream'),
    typeof import('node:stream/promises'),
  ];
  return {
    createReadStream: fs.createReadStream,
    createWriteStream: fs.createWriteStream,
    stat: fsp.stat,
    createHash: crypto.createHash,
    Readable: stream.Readable,
    pipeline: streamPromises.pipeline,
  };
}

/**
 * Bytes per PUT by default: big enough to stream efficiently, small enough to lose little on a retry
 * and to finish well within the engine's 2-minute request timeout on a slow link.
 */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
const RETRIES = 5;

export interface UploadImageOptions {
  /** Local file to send. */
  file: string;
  /** Where to: a data domain (disk) or an ISO domain (`isoFile`). Ignored with `resumeId`. */
  storageDomainId?: string;
  format?: 'raw' | 'qcow2' | 'iso';
  /** One of: a file name in an ISO domain, a new disk's name, an existing disk no VM uses. */
  isoFile?: string;
  diskName?: string;
  diskId?: string;
  /** Continue an earlier transfer at the engine's `bytes_done` instead of starting one. */
  resumeId?: string;
  /** Compute the file's SHA-256 first and have the host verify it (default true). */
  checksum?: boolean;
  chunkBytes?: number;
  /** Called with the bytes the host holds and the total, as they grow. */
  onProgress?: (done: number, total: number) => void;
  /** Called once the transfer exists (its id is what `resumeId` takes). */
  onTransfer?: (transfer: ImageTransfer) => void;
  signal?: AbortSignal;
}

/** SHA-256 of a file (lower-case hex), streamed. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const { createHash, createReadStream } = await nodeModules();
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(signal ? { signal } : {}),
  })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

async function readError(res: FetchResponse): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  const e = body.error ?? {};
  return new ApiError(res.status, e.code ?? 'http_error', e.message ?? `HTTP ${res.status}`, e.details ?? {});
}

export function getTransfer(client: VireoClient, id: string, signal?: AbortSignal): Promise<ImageTransfer> {
  return client.get<ImageTransfer>(`/image-transfers/${encodeURIComponent(id)}`, signal ? { signal } : {});
}

export async function createTransfer(
  client: VireoClient,
  body: ImageTransferCreate,
  signal?: AbortSignal,
): Promise<ImageTransferCreated> {
  const res = await client.request<ImageTransferCreated>('POST', '/image-transfers', {
    body,
    ...(signal ? { signal } : {}),
  });
  return res.body;
}

export async function finalizeTransfer(
  client: VireoClient,
  id: string,
  signal?: AbortSignal,
): Promise<ImageTransfer> {
  const res = await client.request<ImageTransfer>(
    'POST',
    `/image-transfers/${encodeURIComponent(id)}/finalize`,
    {
      timeoutMs: 20 * 60_000,
      ...(signal ? { signal } : {}),
    },
  );
  return res.body;
}

export async function cancelTransfer(
  client: VireoClient,
  id: string,
  signal?: AbortSignal,
): Promise<ImageTransfer> {
  const res = await client.request<ImageTransfer>('DELETE', `/image-transfers/${encodeURIComponent(id)}`, {
    ...(signal ? { signal } : {}),
  });
  return res.body;
}

/**
 * Sends bytes `[start, end]` of `file` as one PUT. Resolves with the transfer as the engine sees it
 * afterwards. A 416 answer (`transfer_offset_mismatch`) is thrown as ApiError with
 * `details.bytes_done`, where the caller continues.
 */
export async function putChunk(
  client: VireoClient,
  options: {
    id: string;
    file: string;
    start: number;
    end: number;
    total: number;
    onBytes?: (n: number) => void;
    signal?: AbortSignal;
  },
): Promise<ImageTransfer> {
  const { createReadStream } = await nodeModules();
  const source = createReadStream(options.file, {
    start: options.start,
    end: options.end,
    highWaterMark: 1 << 20,
  });
  // Counted as the HTTP client pulls: a 'data' listener would start the stream flowing before the
  // request is ready to take the bytes.
  const count = options.onBytes;
  const body = count
    ? (async function* () {
        for await (const chunk of source) {
          count((chunk as Buffer).length);
          yield chunk as Uint8Array;
        }
      })()
    : (source as AsyncIterable<Uint8Array>);
  const res = await client.raw('PUT', `/image-transfers/${encodeURIComponent(options.id)}/data`, {
    rawBody: body,
    headers: {
      'content-type': 'application/octet-stream',
      'content-range': `bytes ${options.start}-${options.end}/${options.total}`,
      'content-length': String(options.end - options.start + 1),
    },
    timeoutMs: 0,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  source.destroy();
  if (!res.ok) throw await readError(res);
  return JSON.parse(await res.text()) as ImageTransfer;
}

/**
 * Uploads a file: creates the transfer (or resumes `resumeId` at the engine's `bytes_done`), sends
 * it in chunks, retries broken requests from where the host stopped, then finalizes (checksum and
 * the host's image checks). Throws ApiError with the engine's code when the image is refused.
 */
export async function uploadImage(client: VireoClient, options: UploadImageOptions): Promise<ImageTransfer> {
  const { file, signal } = options;
  const { stat } = await nodeModules();
  const size = (await stat(file)).size;
  let transfer: ImageTransfer;
  if (options.resumeId) {
    transfer = await getTransfer(client, options.resumeId, signal);
    if (transfer.size_bytes !== size) {
      throw new VireoClientError(
        'invalid_response',
        `transfer ${transfer.id} expects ${transfer.size_bytes} bytes but ${file} has ${size}`,
      );
    }
  } else {
    if (!options.storageDomainId || !options.format) {
      throw new VireoClientError('invalid_response', 'an upload needs a storage domain and a format');
    }
    const sha256 = options.checksum === false ? undefined : await sha256File(file, signal);
    const created = await createTransfer(
      client,
      {
        direction: 'upload',
        storage_domain_id: options.storageDomainId,
        format: options.format,
        size_bytes: size,
        ...(options.isoFile ? { iso_file: options.isoFile } : {}),
        ...(options.diskName ? { disk_name: options.diskName } : {}),
        ...(options.diskId ? { disk_id: options.diskId } : {}),
        ...(sha256 ? { sha256 } : {}),
      },
      signal,
    );
    transfer = created.transfer;
  }
  options.onTransfer?.(transfer);
  const chunk = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  let done = transfer.bytes_done;
  let failures = 0;
  options.onProgress?.(done, size);
  while (done < size) {
    signal?.throwIfAborted();
    const end = Math.min(done + chunk, size) - 1;
    let sent = 0;
    try {
      transfer = await putChunk(client, {
        id: transfer.id,
        file,
        start: done,
        end,
        total: size,
        onBytes: (n) => {
          sent += n;
          options.onProgress?.(Math.min(done + sent, size), size);
        },
        ...(signal ? { signal } : {}),
      });
      done = transfer.bytes_done;
      failures = 0;
    } catch (err) {
      if (signal?.aborted) throw err;
      if (err instanceof ApiError && err.code === 'transfer_offset_mismatch') {
        done = Number(err.details.bytes_done ?? done);
      } else if (isRetryable(err) && ++failures <= RETRIES) {
        await new Promise((r) => setTimeout(r, 500 * failures));
        done = (await getTransfer(client, transfer.id, signal)).bytes_done;
      } else {
        throw err;
      }
    }
    options.onProgress?.(done, size);
  }
  return finalizeTransfer(client, transfer.id, signal);
}

function isRetryable(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 500 || err.code === 'transfer_busy';
  return err instanceof VireoClientError || err instanceof TypeError;
}

export interface DownloadImageOptions {
  diskId: string;
  /** Local file to write (created or truncated). */
  file: string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Downloads a disk's image to a file. A broken connection is resumed with a `Range` request from
 * the bytes already written. The transfer is closed (finalized) at the end.
 */
export async function downloadImage(
  client: VireoClient,
  options: DownloadImageOptions,
): Promise<ImageTransfer> {
  const { signal } = options;
  const { createWriteStream, pipeline, Readable, stat } = await nodeModules();
  const { transfer } = await createTransfer(
    client,
    { direction: 'download', disk_id: options.diskId },
    signal,
  );
  const total = transfer.size_bytes;
  let written = 0;
  let failures = 0;
  try {
    while (written < total || written === 0) {
      const res = await client.raw('GET', `/image-transfers/${transfer.id}/data`, {
        accept: 'application/octet-stream',
        headers: written > 0 ? { range: `bytes=${written}-` } : {},
        timeoutMs: 0,
        ...(signal ? { signal } : {}),
      });
      if (!res.ok || !res.body) throw await readError(res);
      const out = createWriteStream(
        options.file,
        written > 0 ? { flags: 'r+', start: written } : { flags: 'w' },
      );
      const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', (c: Buffer) => {
        written += c.length;
        options.onProgress?.(written, total);
      });
      try {
        await pipeline(body, out);
        if (total === 0) break;
      } catch (err) {
        if (signal?.aborted || ++failures > RETRIES) throw err;
        await new Promise((r) => setTimeout(r, 500 * failures));
        // Continue after what reached the file, not what was merely received.
        written = (await stat(options.file)).size;
      }
    }
  } catch (err) {
    await cancelTransfer(client, transfer.id).catch(() => undefined);
    throw err;
  }
  return finalizeTransfer(client, transfer.id, signal);
}
