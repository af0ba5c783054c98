import { Type } from '@sinclair/typebox';
import { Cluster, ClusterCreate, ClusterListQuery, ClusterPage, ClusterUpdate, IdParams } from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { CLUSTER_SORT_COLUMNS } from '../../db/repositories/clusters';
import type { ClusterRow } from '../../db/tables/inventory';
import type { AppDeps } from '../deps';
import { expectedVersion, setEtag } from '../etag';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

/** Wire shape of a cluster row. */
export function toCluster(row: ClusterRow): Cluster {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    datacenter_id: row.datacenter_id,
    cpu_type: row.cpu_type as Cluster['cpu_type'],
    memory_overcommit_percent: row.memory_overcommit_percent,
    scheduling_policy: row.scheduling_policy as Cluster['scheduling_policy'],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['clusters'];

export const clusterRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.clusters;

  app.get(
    '/clusters',
    {
      schema: {
        tags: TAGS,
        summary: 'List clusters (filter with ?datacenter_id=)',
        querystring: ClusterListQuery,
        response: { 200: Type.Ref(ClusterPage), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'cluster.list', { kind: 'cluster' });
      const page = pageRequest(request.query, CLUSTER_SORT_COLUMNS);
      const filter = request.query.datacenter_id ? { datacenterId: request.query.datacenter_id } : {};
      return pageBody(await service.list(page, filter), page.sortSpec, toCluster);
    },
  );

  app.get(
    '/clusters/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a cluster (with its ETag)',
        params: IdParams,
        response: { 200: Type.Ref(Cluster), ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'cluster.read', { kind: 'cluster', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toCluster(row);
    },
  );

  app.post(
    '/clusters',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a cluster in a data center',
        body: ClusterCreate,
        response: { 201: Type.Ref(Cluster), ...errorResponses(...AUTHED, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'cluster.create', {
        kind: 'cluster',
        parents: [{ kind: 'datacenter', id: request.body.datacenter_id }],
      });
      const row = await service.create(principal, request.body);
      setEtag(reply, row.version);
      reply.header('location', `/api/v1/clusters/${row.id}`);
      return reply.code(201).send(toCluster(row));
    },
  );

  app.patch(
    '/clusters/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Update a cluster (requires If-Match)',
        params: IdParams,
        body: ClusterUpdate,
        response: { 200: Type.Ref(Cluster), ...errorResponses(...AUTHED, 404, 409, 412, 413, 415, 428) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'cluster.update', { kind: 'cluster', id });
      const row = await service.update(principal, id, expectedVersion(request, true), request.body);
      setEtag(reply, row.version);
      return toCluster(row);
    },
  );

  app.delete(
    '/clusters/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an empty cluster (If-Match optional)',
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
      authorize(principal, 'cluster.delete', { kind: 'cluster', id });
      await service.delete(principal, id, expectedVersion(request, false));
      return reply.code(204).send();
    },
  );
};
