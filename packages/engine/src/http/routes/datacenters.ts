import { Type } from '@sinclair/typebox';
import {
  DataCenter,
  DataCenterCreate,
  DataCenterListQuery,
  DataCenterPage,
  DataCenterUpdate,
  IdParams,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { DATACENTER_SORT_COLUMNS } from '../../db/repositories/datacenters';
import type { DatacenterRow } from '../../db/tables/inventory';
import type { AppDeps } from '../deps';
import { expectedVersion, setEtag } from '../etag';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

/** Wire shape of a data center row. */
export function toDataCenter(row: DatacenterRow): DataCenter {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    storage_format: row.storage_format as DataCenter['storage_format'],
    compatibility_version: row.compatibility_version as DataCenter['compatibility_version'],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['datacenters'];

export const datacenterRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.datacenters;

  app.get(
    '/datacenters',
    {
      schema: {
        tags: TAGS,
        summary: 'List data centers',
        querystring: DataCenterListQuery,
        response: { 200: Type.Ref(DataCenterPage), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'datacenter.list', { kind: 'datacenter' });
      const page = pageRequest(request.query, DATACENTER_SORT_COLUMNS);
      return pageBody(await service.list(page), page.sortSpec, toDataCenter);
    },
  );

  app.get(
    '/datacenters/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a data center (with its ETag)',
        params: IdParams,
        response: { 200: Type.Ref(DataCenter), ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'datacenter.read', { kind: 'datacenter', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toDataCenter(row);
    },
  );

  app.post(
    '/datacenters',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a data center',
        body: DataCenterCreate,
        response: { 201: Type.Ref(DataCenter), ...errorResponses(...AUTHED, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'datacenter.create', { kind: 'datacenter' });
      const row = await service.create(principal, request.body);
      setEtag(reply, row.version);
      reply.header('location', `/api/v1/datacenters/${row.id}`);
      return reply.code(201).send(toDataCenter(row));
    },
  );

  app.patch(
    '/datacenters/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Update a data center (requires If-Match)',
        params: IdParams,
        body: DataCenterUpdate,
        response: { 200: Type.Ref(DataCenter), ...errorResponses(...AUTHED, 404, 409, 412, 413, 415, 428) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'datacenter.update', { kind: 'datacenter', id });
      const row = await service.update(principal, id, expectedVersion(request, true), request.body);
      setEtag(reply, row.version);
      return toDataCenter(row);
    },
  );

  app.delete(
    '/datacenters/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an empty data center (If-Match optional)',
        params: IdParams,
        response: {
          204: { type: 'null', description: 'Deleted' },
          ...errorResponses(...AUTHED, 404, 409, 412),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'datacenter.delete', { kind: 'datacenter', id });
      await service.delete(principal, id, expectedVersion(request, false));
      return reply.code(204).send();
    },
  );
};
