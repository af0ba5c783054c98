import { Type } from '@sinclair/typebox';
import {
  Host,
  HostCreate,
  HostDeployLog,
  HostJoin,
  HostJoined,
  HostListQuery,
  HostPage,
  IdParams,
  JoinTokenCreate,
  JoinTokenCreated,
  OperationAccepted,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { HOST_SORT_COLUMNS } from '../../db/repositories/hosts';
import type { HostRow } from '../../db/tables/hosts';
import type { AppDeps } from '../deps';
import { setEtag } from '../etag';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';

const asObject = (v: unknown): Record<string, unknown> | null =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** Wire shape of a host row. */
export function toHost(row: HostRow): Host {
  return {
    id: row.id,
    name: row.name,
    address: row.address,
    port: row.agent_port,
    cluster_id: row.cluster_id,
    state: row.state as Host['state'],
    state_reason: row.state_reason,
    state_changed_at: row.state_changed_at.toISOString(),
    agent_version: row.agent_version,
    capabilities: asObject(row.capabilities),
    stats: asObject(row.last_stats),
    last_heartbeat_at: row.last_heartbeat_at?.toISOString() ?? null,
    certificate:
      row.certificate_serial && row.certificate_not_after
        ? { serial: row.certificate_serial, not_after: row.certificate_not_after.toISOString() }
        : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['hosts'];

export const hostRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.hosts;

  app.get(
    '/hosts',
    {
      schema: {
        tags: TAGS,
        summary: 'List hosts (filter with ?cluster_id=)',
        querystring: HostListQuery,
        response: { 200: HostPage, ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'host.list', { kind: 'host' });
      const page = pageRequest(request.query, HOST_SORT_COLUMNS);
      const filter = request.query.cluster_id ? { clusterId: request.query.cluster_id } : {};
      return pageBody(await service.list(page, filter), page.sortSpec, toHost);
    },
  );

  app.get(
    '/hosts/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a host: state, capabilities, latest stats, certificate',
        params: IdParams,
        response: { 200: Host, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'host.read', { kind: 'host', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toHost(row);
    },
  );

  app.post(
    '/hosts',
    {
      schema: {
        tags: TAGS,
        summary: 'Add a host by SSH deploy: the host is `installing` while a `host.deploy` operation runs',
        body: HostCreate,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'host.create', {
        kind: 'host',
        parents: [{ kind: 'cluster', id: request.body.cluster_id }],
      });
      const requestUrl = `${request.protocol}://${request.host}`;
      const { operationId } = await service.create(principal, request.body, requestUrl);
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );

  app.get(
    '/hosts/:id/deploy-log',
    {
      schema: {
        tags: TAGS,
        summary: 'The log of the host’s last SSH deploy (never holds credentials)',
        params: IdParams,
        response: { 200: HostDeployLog, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'host.read', { kind: 'host', id });
      return { lines: await service.deployLog(id) };
    },
  );

  app.post(
    '/hosts/join-tokens',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a single-use join token for `vireo-agent join` (shown once)',
        body: JoinTokenCreate,
        response: { 201: JoinTokenCreated, ...errorResponses(...AUTHED, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'host.create', {
        kind: 'host',
        parents: [{ kind: 'cluster', id: request.body.cluster_id }],
      });
      reply.header('cache-control', 'no-store');
      return reply.code(201).send(await service.createJoinToken(principal, request.body));
    },
  );

  app.post(
    '/hosts/join',
    {
      config: { public: true },
      schema: {
        tags: TAGS,
        summary: 'Enroll a host with a join token; answers its certificate (authenticated by the token)',
        security: [],
        body: HostJoin,
        response: { 201: HostJoined, ...errorResponses(400, 401, 409, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const joined = await service.join(request.body, request.ip);
      reply.header('location', `/api/v1/hosts/${joined.host_id}`);
      return reply.code(201).send(joined);
    },
  );

  app.post(
    '/hosts/:id/maintenance',
    {
      schema: {
        tags: TAGS,
        summary: 'Put a host in maintenance: an operation that ends once the host runs no VMs',
        params: IdParams,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'host.update', { kind: 'host', id });
      const { operationId } = await service.enterMaintenance(principal, id);
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );

  app.post(
    '/hosts/:id/activate',
    {
      schema: {
        tags: TAGS,
        summary: 'Bring a host out of maintenance (or stop it entering maintenance)',
        params: IdParams,
        response: { 200: Host, ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'host.update', { kind: 'host', id });
      return toHost(await service.activate(principal, id));
    },
  );

  app.delete(
    '/hosts/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove a host in maintenance that runs no VMs',
        params: IdParams,
        response: { 204: { type: 'null', description: 'Removed' }, ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'host.delete', { kind: 'host', id });
      await service.remove(principal, id);
      return reply.code(204).send();
    },
  );
};
