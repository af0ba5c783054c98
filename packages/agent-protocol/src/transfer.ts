/**
 * Image transfers: uploads of ISO and disk images into an active storage domain and downloads of
 * volumes. Control goes over JSON-RPC (`transfer.*`); the bytes go over a second HTTPS request to
 * the agent's TLS server (same mTLS identity) at `TRANSFER_HTTP_PREFIX + transfer_id`, authorized
 * by the per-transfer secret the engine handed over in `transfer.start`:
 * - `PUT` with `Content-Range: bytes START-END/TOTAL` appends to the staging file; START must equal
 *   the bytes already received (else 416 with `transfer_offset_mismatch`); answers a
 *   {@link TransferStatus}.
 * - `GET` (optionally with `Range: bytes=START-END`) streams a download.
 * Targets are addressed by ids only: the agent maps them to paths inside the domain itself.
 */
import { type Static, Type } from '@sinclair/typebox';
import { UuidString } from './vm-spec';

const strict = { additionalProperties: false } as const;

/** Path prefix of the data endpoint on the agent's HTTPS server. */
export const TRANSFER_HTTP_PREFIX = '/transfers/v1/';

/** Largest image a transfer carries (64 TiB, as volumes). */
export const TRANSFER_MAX_BYTES = 64 * 1024 ** 4;

export const TransferFormatSchema = Type.Union([
  Type.Literal('raw'),
  Type.Literal('qcow2'),
  Type.Literal('iso'),
]);
export type TransferFormat = Static<typeof TransferFormatSchema>;

/** ISO file names: one path segment, no hidden files, no `..`. */
export const IsoFileName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$' });

/** Where the bytes go to or come from: a volume of a disk, or a file of an ISO domain. */
export const TransferTargetSchema = Type.Union([
  Type.Object({ kind: Type.Literal('volume'), disk_id: UuidString, volume_id: UuidString }, strict),
  Type.Object({ kind: Type.Literal('iso'), file: IsoFileName }, strict),
]);
export type TransferTarget = Static<typeof TransferTargetSchema>;

export const TransferStartParamsSchema = Type.Object(
  {
    transfer_id: UuidString,
    direction: Type.Union([Type.Literal('upload'), Type.Literal('download')]),
    domain_id: UuidString,
    target: TransferTargetSchema,
    format: TransferFormatSchema,
    /** Uploads: the exact number of bytes that will be sent. Downloads: ignored (the file decides). */
    size_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: TRANSFER_MAX_BYTES })),
    /**
     * Bearer secret for the data endpoint (≥ 32 characters). A repeated `transfer.start` for the
     * same transfer replaces it (an engine that restarted lost the old one); the staging file and
     * its received bytes are kept, so the upload resumes.
     */
    secret: Type.String({ minLength: 32, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' }),
    /** Uploads into an existing volume: replace it at finalize (the engine checked no VM uses it). */
    replace: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type TransferStartParams = Static<typeof TransferStartParamsSchema>;

export const TransferIdParamsSchema = Type.Object({ transfer_id: UuidString }, strict);
export type TransferIdParams = Static<typeof TransferIdParamsSchema>;

export const TransferStatusSchema = Type.Object(
  {
    transfer_id: UuidString,
    direction: Type.Union([Type.Literal('upload'), Type.Literal('download')]),
    /** Uploads: bytes durably in the staging file. Downloads: bytes served by the last request. */
    bytes_done: Type.Integer({ minimum: 0 }),
    size_bytes: Type.Integer({ minimum: 0 }),
    /** A data request is streaming right now. */
    busy: Type.Boolean(),
  },
  strict,
);
export type TransferStatus = Static<typeof TransferStatusSchema>;

export const TransferFinalizeParamsSchema = Type.Object(
  {
    transfer_id: UuidString,
    /** Lower-case hex SHA-256 the whole image must have. */
    sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    /**
     * Largest accepted virtual size, in bytes (the engine's quota for this image). The agent also
     * caps it by the domain's free space.
     */
    max_virtual_size: Type.Integer({ minimum: 1, maximum: TRANSFER_MAX_BYTES }),
    /** Smallest accepted virtual size (disks have a floor); refused before anything is moved. */
    min_virtual_size: Type.Optional(Type.Integer({ minimum: 0, maximum: TRANSFER_MAX_BYTES })),
  },
  strict,
);
export type TransferFinalizeParams = Static<typeof TransferFinalizeParamsSchema>;

export const TransferFinalizeResultSchema = Type.Object(
  {
    transfer_id: UuidString,
    sha256: Type.String(),
    virtual_size: Type.Integer({ minimum: 0 }),
    actual_size: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type TransferFinalizeResult = Static<typeof TransferFinalizeResultSchema>;

export const TransferCancelResultSchema = Type.Object(
  { transfer_id: UuidString, removed: Type.Boolean() },
  strict,
);
export type TransferCancelResult = Static<typeof TransferCancelResultSchema>;

/** A parsed `Content-Range: bytes START-END/TOTAL` (END inclusive). */
export interface ContentRange {
  start: number;
  end: number;
  total: number;
}

const CONTENT_RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/;

/**
 * Parses an upload's `Content-Range`. Returns undefined for anything malformed or inconsistent
 * (END before START, END past TOTAL, numbers beyond `Number.MAX_SAFE_INTEGER`).
 */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  const m = header === undefined ? null : CONTENT_RANGE.exec(header.trim());
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![start, end, total].every(Number.isSafeInteger)) return undefined;
  if (end < start || end >= total) return undefined;
  return { start, end, total };
}

/** Formats a `Content-Range` for bytes `[start, start + length)` of `total`. */
export function formatContentRange(start: number, length: number, total: number): string {
  return `bytes ${start}-${start + length - 1}/${total}`;
}

const RANGE = /^bytes=(\d{0,16})-(\d{0,16})$/;

/**
 * Resolves a download's single `Range: bytes=A-B` (or `A-`, or the suffix form `-N`) against a
 * file of `size` bytes into an inclusive `[start, end]`. No header → the whole file;
 * `'unsatisfiable'` → answer 416. Forms we do not serve (several ranges, other units) also give the
 * whole file, which RFC 9110 allows a server to answer.
 */
export function resolveRange(
  header: string | undefined,
  size: number,
): { start: number; end: number; partial: boolean } | 'unsatisfiable' {
  const whole = { start: 0, end: size - 1, partial: false };
  if (header === undefined) return whole;
  const m = RANGE.exec(header.trim());
  if (!m) return whole;
  const [a, b] = [m[1] ?? '', m[2] ?? ''];
  if (a === '' && b === '') return whole;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1, partial: true };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end, partial: true };
}
