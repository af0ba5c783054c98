import { Type } from '@sinclair/typebox';
import {
  IdParams,
  IsoFileList,
  OperationAccepted,
  StorageDomain,
  StorageDomainAttach,
  StorageDomainCreate,
  StorageDomainImport,
  StorageDomainImportResult,
  StorageDomainListQuery,
  StorageDomainPage,
  StorageDomainUpdate,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { STORAGE_DOMAIN_SORT_COLUMNS } from '../../db/repositories/storage-domains';
import type { StorageDomainRow } from '../../db/tables/storage';
import type { AppDeps } from '../deps';
import { expectedVersion, setEtag } from '../etag';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';

/** Wire shape of a storage domain row. */
export function toStorageDomain(row: StorageDomainRow): StorageDomain {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    kind: row.kind,
    backend: row.backend,
    datacenter_id: row.datacenter_id,
    host_id: row.host_id,
    path: row.path,
    nfs_server: row.nfs_server,
    nfs_export: row.nfs_export,
    mount_options: row.mount_options,
    state: row.state,
    state_reason: row.state_reason,
    format_version: row.format_version,
    total_bytes: row.total_bytes,
    free_bytes: row.free_bytes,
    capacity_checked_at: row.capacity_checked_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['storage-domains'];
const ACTIONS = ['detach', 'activate', 'maintenance'] as const;

export const storageDomainRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.storageDomains;

  app.get(
    '/storage-domains',
    {
      schema: {
        tags: TAGS,
        summary: 'List storage domains (?datacenter_id=, ?kind=, ?state=)',
        querystring: StorageDomainListQuery,
        response: { 200: Type.Ref(StorageDomainPage), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'storage_domain.list', { kind: 'storage_domain' });
      const page = pageRequest(request.query, STORAGE_DOMAIN_SORT_COLUMNS);
      const q = request.query;
      const rows = await service.list(page, { datacenterId: q.datacenter_id, kind: q.kind, state: q.state });
      return pageBody(rows, page.sortSpec, toStorageDomain);
    },
  );

  app.get(
    '/storage-domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a storage domain (with its ETag)',
        params: IdParams,
        response: { 200: Type.Ref(StorageDomain), ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'storage_domain.read', { kind: 'storage_domain', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toStorageDomain(row);
    },
  );

  app.post(
    '/storage-domains',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a storage domain (unattached; attaching writes it on storage)',
        body: StorageDomainCreate,
        response: { 201: Type.Ref(StorageDomain), ...errorResponses(...AUTHED, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'storage_domain.create', { kind: 'storage_domain' });
      const row = await service.create(principal, request.body);
      setEtag(reply, row.version);
      reply.header('location', `/api/v1/storage-domains/${row.id}`);
      return reply.code(201).send(toStorageDomain(row));
    },
  );

  app.post(
    '/storage-domains/import',
    {
      schema: {
        tags: TAGS,
        summary: 'Register the detached domains found on storage (read from their metadata)',
        body: StorageDomainImport,
        response: {
          201: StorageDomainImportResult,
          ...errorResponses(...AUTHED, 404, 409, 413, 415, 502, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'storage_domain.create', { kind: 'storage_domain' });
      const rows = await service.import(principal, request.body);
      return reply.code(201).send({ domains: rows.map(toStorageDomain) });
    },
  );

  app.patch(
    '/storage-domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Rename or describe a storage domain (requires If-Match)',
        params: IdParams,
        body: StorageDomainUpdate,
        response: {
          200: Type.Ref(StorageDomain),
          ...errorResponses(...AUTHED, 404, 409, 412, 413, 415, 428),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'storage_domain.update', { kind: 'storage_domain', id });
      const row = await service.update(principal, id, expectedVersion(request, true), request.body);
      setEtag(reply, row.version);
      return toStorageDomain(row);
    },
  );

  app.delete(
    '/storage-domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove an unattached storage domain that holds no disks (its files stay on storage)',
        params: IdParams,
        response: {
          204: { type: 'null', description: 'Removed' },
          ...errorResponses(...AUTHED, 404, 409, 412),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'storage_domain.delete', { kind: 'storage_domain', id });
      await service.delete(principal, id, expectedVersion(request, false));
      return reply.code(204).send();
    },
  );

  app.post(
    '/storage-domains/:id/attach',
    {
      schema: {
        tags: TAGS,
        summary: 'Attach to a data center (an operation: writes or claims the metadata, ends in maintenance)',
        params: IdParams,
        body: StorageDomainAttach,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'storage_domain.attach', { kind: 'storage_domain', id });
      const { operationId } = await service.act(principal, id, 'attach', request.body);
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );

  for (const action of ACTIONS) {
    app.post(
      `/storage-domains/:id/${action}`,
      {
        schema: {
          tags: TAGS,
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} a storage domain (an operation of type storage_domain.${action})`,
          params: IdParams,
          response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409) },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id } = request.params;
        authorize(principal, `storage_domain.${action}`, { kind: 'storage_domain', id });
        const { operationId } = await service.act(principal, id, action);
        return sendAccepted(reply, await deps.operations.get(operationId));
      },
    );
  }

  app.get(
    '/storage-domains/:id/isos',
    {
      schema: {
        tags: TAGS,
        summary: 'ISO files of an active ISO domain',
        params: IdParams,
        response: { 200: IsoFileList, ...errorResponses(...AUTHED, 404, 409, 502, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'storage_domain.read', { kind: 'storage_domain', id });
      return { files: await service.isos(id) };
    },
  );
};
