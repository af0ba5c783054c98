import type { ImageTransfer, ImageTransferCreate } from '@vireo/api';
import { ApiError } from '@vireo/client';

/**
 * Bytes per PUT from the browser: small enough that a lost connection costs little and the bar
 * moves often, large enough that request overhead stays negligible.
 */
export const BROWSER_CHUNK_BYTES = 8 * 1024 * 1024;
/** Files up to this size are hashed before sending (WebCrypto hashes a whole buffer at once). */
export const CHECKSUM_MAX_BYTES = 256 * 1024 * 1024;
const RETRIES = 5;

/** The calls an upload makes; the portal's implementation is {@link browserTransport}. */
export interface UploadTransport {
  create(body: ImageTransferCreate, signal?: AbortSignal): Promise<ImageTransfer>;
  get(id: string, signal?: AbortSignal): Promise<ImageTransfer>;
  /** PUT bytes `[start, end]` (inclusive) of `total`; answers the transfer as the engine sees it. */
  put(
    id: string,
    start: number,
    end: number,
    total: number,
    body: Blob,
    signal?: AbortSignal,
  ): Promise<ImageTransfer>;
  finalize(id: string, signal?: AbortSignal): Promise<ImageTransfer>;
  cancel(id: string): Promise<void>;
}

/** Where unfinished uploads are remembered, so picking the same file again resumes it. */
export interface ResumeStore {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export interface UploadOptions {
  file: Blob & { name: string };
  storageDomainId: string;
  /** The name in the ISO domain (defaults to the file's name). */
  isoFile?: string;
  transport: UploadTransport;
  store?: ResumeStore;
  /** SHA-256 (hex) of the file, or undefined to send without a checksum. */
  sha256?: (file: Blob) => Promise<string | undefined>;
  chunkBytes?: number;
  onProgress?(done: number, total: number): void;
  onTransfer?(transfer: ImageTransfer): void;
  signal?: AbortSignal;
  /** Waits between retries (tests pass a no-op). */
  delay?(ms: number): Promise<void>;
}

/** The key an unfinished upload is remembered under: same domain, same name, same size. */
export function resumeKey(storageDomainId: string, name: string, size: number): string {
  return `vireo.upload.${storageDomainId}.${name}.${size}`;
}

/** File names an ISO domain accepts (the API's pattern): the same rule, checked before any byte moves. */
export function isoNameProblem(name: string): 'empty' | 'invalid' | null {
  if (name === '') return 'empty';
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name) && !name.includes('..') ? null : 'invalid';
}

/** A file name made acceptable to an ISO domain: unsupported characters become `_`. */
export function safeIsoName(name: string): string {
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '');
  return cleaned.slice(0, 255) || 'image.iso';
}

/** Whether a failed request is worth sending again (the engine or the network hiccupped). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 500 || err.code === 'transfer_busy';
  return err instanceof TypeError; // fetch's network failure
}

/**
 * Uploads a file into an ISO domain: creates the transfer (or resumes the one remembered for this
 * domain, name and size at the engine's `bytes_done`), sends it in chunks, follows the engine when
 * it says where to continue (`transfer_offset_mismatch`), retries broken requests from the host's
 * `bytes_done`, and finalizes (checksum and the host's image checks). Throws the engine's ApiError
 * when the image is refused; the remembered transfer is then forgotten.
 */
export async function uploadIso(o: UploadOptions): Promise<ImageTransfer> {
  const { file, transport, signal } = o;
  const size = file.size;
  const isoFile = o.isoFile ?? file.name;
  const key = resumeKey(o.storageDomainId, isoFile, size);
  const delay = o.delay ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let transfer = await resumable(o, key);
  if (!transfer) {
    const sha256 = o.sha256 ? await o.sha256(file) : undefined;
    transfer = await transport.create(
      {
        direction: 'upload',
        storage_domain_id: o.storageDomainId,
        format: 'iso',
        size_bytes: size,
        iso_file: isoFile,
        ...(sha256 ? { sha256 } : {}),
      },
      signal,
    );
    o.store?.set(key, transfer.id);
  }
  o.onTransfer?.(transfer);
  const chunk = o.chunkBytes ?? BROWSER_CHUNK_BYTES;
  let done = transfer.bytes_done;
  let failures = 0;
  o.onProgress?.(done, size);
  try {
    while (done < size) {
      signal?.throwIfAborted();
      const end = Math.min(done + chunk, size) - 1;
      try {
        transfer = await transport.put(transfer.id, done, end, size, file.slice(done, end + 1), signal);
        done = transfer.bytes_done;
        failures = 0;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (err instanceof ApiError && err.code === 'transfer_offset_mismatch') {
          const at = Number(err.details.bytes_done);
          if (!Number.isSafeInteger(at) || at < 0 || at > size) throw err;
          done = at;
        } else if (isRetryable(err) && ++failures <= RETRIES) {
          await delay(500 * failures);
          done = (await transport.get(transfer.id, signal)).bytes_done;
        } else {
          throw err;
        }
      }
      o.onProgress?.(done, size);
    }
    const finished = await transport.finalize(transfer.id, signal);
    o.store?.remove(key);
    return finished;
  } catch (err) {
    // A refusal ends the transfer on the engine: nothing is left to resume.
    if (err instanceof ApiError && !isRetryable(err)) o.store?.remove(key);
    throw err;
  }
}

/** The remembered transfer for this key when the engine still takes bytes for it. */
async function resumable(o: UploadOptions, key: string): Promise<ImageTransfer | undefined> {
  const id = o.store?.get(key);
  if (!id) return undefined;
  try {
    const t = await o.transport.get(id, o.signal);
    if ((t.state === 'transferring' || t.state === 'initializing') && t.size_bytes === o.file.size) return t;
  } catch (err) {
    if (o.signal?.aborted) throw err;
  }
  o.store?.remove(key);
  return undefined;
}

/** SHA-256 with WebCrypto for files small enough to hold at once; larger ones go unchecked. */
export async function webCryptoSha256(file: Blob): Promise<string | undefined> {
  if (file.size > CHECKSUM_MAX_BYTES || !globalThis.crypto?.subtle) return undefined;
  const digest = await globalThis.crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
