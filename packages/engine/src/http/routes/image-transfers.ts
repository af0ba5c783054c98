import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { IdParams, ImageTransfer, ImageTransferCreate, ImageTransferCreated } from '@vireo/api';
import { authorize } from '../../auth/authorize';
import type { ImageTransferRow } from '../../db/tables/transfers';
import { InvalidInput, Unavailable } from '../../errors';
import type { TransferService } from '../../transfers/service';
import type { AppDeps } from '../deps';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

const TAGS = ['image-transfers'];
const BASE = '/api/v1/image-transfers';

/** Wire shape of a transfer row. */
export function toImageTransfer(row: ImageTransferRow): ImageTransfer {
  return {
    id: row.id,
    direction: row.direction,
    state: row.state,
    storage_domain_id: row.storage_domain_id,
    disk_id: row.disk_id,
    iso_file: row.iso_file,
    format: row.format,
    size_bytes: Number(row.size_bytes),
    bytes_done: Number(row.bytes_done),
    sha256: row.sha256,
    host_id: row.host_id,
    operation_id: row.operation_id,
    error: row.error ?? null,
    data_url: `${BASE}/${row.id}/data`,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    finished_at: row.finished_at?.toISOString() ?? null,
  };
}

/**
 * `/image-transfers`: create, show, list, the data endpoint (PUT chunks with `Content-Range`, GET
 * with `Range`), finalize and cancel. The data routes take `application/octet-stream` bodies as a
 * stream: nothing is buffered, and the engine forwards bytes only as fast as the host writes them.
 */
export const imageTransferRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = (): TransferService => {
    if (!deps.transfers)
      throw new Unavailable('unavailable', 'image transfers are not available in this engine');
    return deps.transfers;
  };
  // Raw bodies reach the handler as the request stream (this plugin's scope only).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post(
    '/image-transfers',
    {
      schema: {
        tags: TAGS,
        summary: 'Start an upload (ISO or disk image) or a download (disk image)',
        body: ImageTransferCreate,
        response: { 201: ImageTransferCreated, ...errorResponses(...AUTHED, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'image_transfer.create', { kind: 'image_transfer' });
      const { transfer, operationId } = await service().create(principal, request.body);
      const operation = await deps.operations.get(operationId);
      reply.header('location', `${BASE}/${transfer.id}`);
      return reply.code(201).send({ transfer: toImageTransfer(transfer), operation });
    },
  );

  app.get(
    '/image-transfers',
    {
      schema: {
        tags: TAGS,
        summary: 'List image transfers, newest first',
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) }),
        response: {
          200: Type.Object({ items: Type.Array(ImageTransfer), next_cursor: Type.Null() }),
          ...errorResponses(...AUTHED),
        },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'image_transfer.list', { kind: 'image_transfer' });
      const rows = await service().list(request.query.limit ?? 50);
      return { items: rows.map(toImageTransfer), next_cursor: null };
    },
  );

  app.get(
    '/image-transfers/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a transfer: state and bytes_done (where a resumed upload continues)',
        params: IdParams,
        response: { 200: ImageTransfer, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'image_transfer.read', { kind: 'image_transfer', id });
      return toImageTransfer(await service().get(id));
    },
  );

  app.put(
    '/image-transfers/:id/data',
    {
      schema: {
        tags: TAGS,
        summary:
          'Upload bytes START-END (header `Content-Range: bytes START-END/TOTAL` and a matching ' +
          '`Content-Length`, body ' +
          '`application/octet-stream`); START must equal bytes_done, else 416 `transfer_offset_mismatch`',
        params: IdParams,
        response: { 200: ImageTransfer, ...errorResponses(...AUTHED, 404, 409, 415, 416, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'image_transfer.update', { kind: 'image_transfer', id });
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') {
        throw new InvalidInput('unsupported_media_type', 'the body must be application/octet-stream');
      }
      const length = request.headers['content-length'];
      const contentLength = length === undefined ? undefined : Number(length);
      return toImageTransfer(
        await service().upload(id, request.headers['content-range'], body, contentLength),
      );
    },
  );

  app.get(
    '/image-transfers/:id/data',
    {
      schema: {
        tags: TAGS,
        summary: 'Download the image (supports `Range: bytes=START-END`)',
        params: IdParams,
        response: { ...errorResponses(...AUTHED, 404, 409, 416, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'image_transfer.read', { kind: 'image_transfer', id });
      const range = typeof request.headers.range === 'string' ? request.headers.range : undefined;
      const stream = await service().download(id, range);
      reply.code(stream.status).headers(stream.headers).type('application/octet-stream');
      return reply.send(stream.body);
    },
  );

  app.post(
    '/image-transfers/:id/finalize',
    {
      schema: {
        tags: TAGS,
        summary:
          'Upload: verify the checksum, run the hostile-image gate and move the image into place ' +
          '(refusals keep their code, e.g. `image_has_backing_file`). Download: close it.',
        params: IdParams,
        response: { 200: ImageTransfer, ...errorResponses(...AUTHED, 404, 409, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const principal = principalOf(request);
      authorize(principal, 'image_transfer.update', { kind: 'image_transfer', id });
      return toImageTransfer(await service().finalize(principal, id));
    },
  );

  app.delete(
    '/image-transfers/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Cancel a transfer: the partial upload is removed (a disk it created too)',
        params: IdParams,
        response: { 200: ImageTransfer, ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const principal = principalOf(request);
      authorize(principal, 'image_transfer.delete', { kind: 'image_transfer', id });
      return toImageTransfer(await service().cancel(principal, id));
    },
  );
};
