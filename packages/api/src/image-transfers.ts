import { type Static, Type } from '@sinclair/typebox';
import { Name, Timestamp, Uuid } from './common';
import { Operation } from './operations';

/** States of an image transfer (`initializing` → `transferring` → `finalizing` → `finished`). */
export const IMAGE_TRANSFER_STATES = [
  'initializing',
  'transferring',
  'finalizing',
  'finished',
  'failed',
  'cancelled',
] as const;
export type ImageTransferState = (typeof IMAGE_TRANSFER_STATES)[number];

/** Largest image a transfer carries (64 TiB). */
export const IMAGE_TRANSFER_MAX_BYTES = 64 * 1024 ** 4;

const Sha256 = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 of the whole image, hex.' });
const IsoFile = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'File name in the ISO domain: letters, digits, ".", "_", "-"; no "..".',
});

export const ImageTransferCreate = Type.Object(
  {
    direction: Type.Union([Type.Literal('upload'), Type.Literal('download')]),
    storage_domain_id: Type.Optional(Uuid),
    disk_id: Type.Optional(Uuid),
    disk_name: Type.Optional(Name),
    iso_file: Type.Optional(IsoFile),
    format: Type.Optional(
      Type.Union([Type.Literal('raw'), Type.Literal('qcow2'), Type.Literal('iso')], {
        description: 'Format of the uploaded bytes; never probed. `iso` for ISO domains.',
      }),
    ),
    size_bytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: IMAGE_TRANSFER_MAX_BYTES,
        description: 'Exact upload size in bytes.',
      }),
    ),
    sha256: Type.Optional(Sha256),
  },
  {
    additionalProperties: false,
    description:
      'Upload: `storage_domain_id`, `format`, `size_bytes`, and either `iso_file` (ISO domain), `disk_name` ' +
      '(a new disk) or `disk_id` (an existing disk no VM uses); `sha256` is checked at finalize. ' +
      'Download: `disk_id`.',
  },
);
export type ImageTransferCreate = Static<typeof ImageTransferCreate>;

export const ImageTransfer = Type.Object(
  {
    id: Uuid,
    direction: Type.Union([Type.Literal('upload'), Type.Literal('download')]),
    state: Type.Union(IMAGE_TRANSFER_STATES.map((s) => Type.Literal(s))),
    storage_domain_id: Uuid,
    disk_id: Type.Union([Uuid, Type.Null()]),
    iso_file: Type.Union([Type.String(), Type.Null()]),
    format: Type.Union([Type.Literal('raw'), Type.Literal('qcow2'), Type.Literal('iso')]),
    size_bytes: Type.Integer({ minimum: 0 }),
    bytes_done: Type.Integer({
      minimum: 0,
      description: 'Uploads: bytes the host holds durably; the next PUT starts here.',
    }),
    sha256: Type.Union([Type.String(), Type.Null()]),
    host_id: Type.Union([Uuid, Type.Null()]),
    operation_id: Type.Union([Uuid, Type.Null()]),
    error: Type.Union([
      Type.Object({
        code: Type.String(),
        message: Type.String(),
        details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
      Type.Null(),
    ]),
    data_url: Type.String({ description: 'Where the bytes go (PUT) or come from (GET).' }),
    created_at: Timestamp,
    updated_at: Timestamp,
    finished_at: Type.Union([Timestamp, Type.Null()]),
  },
  { description: 'An upload or download of an ISO or disk image' },
);
export type ImageTransfer = Static<typeof ImageTransfer>;

export const ImageTransferCreated = Type.Object(
  {
    transfer: ImageTransfer,
    operation: Type.Ref(Operation),
  },
  { description: 'The transfer and the operation that follows it (progress = bytes_done / size_bytes)' },
);
export type ImageTransferCreated = Static<typeof ImageTransferCreated>;
