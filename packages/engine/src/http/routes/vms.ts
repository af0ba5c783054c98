import { Type } from '@sinclair/typebox';
import {
  IdParams,
  OperationAccepted,
  VM_ACTIONS,
  Vm,
  VmConsoleRequest,
  VmConsoleTicket,
  VmCreate,
  VmDeleteQuery,
  VmListQuery,
  VmPage,
  VmUpdate,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { VM_SORT_COLUMNS } from '../../db/repositories/vms';
import { Unavailable } from '../../errors';
import type { VmWithDisks } from '../../services/vms';
import { cdromOf } from '../../domain/storage/cdrom';
import type { AppDeps } from '../deps';
import { expectedVersion, setEtag } from '../etag';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';

/** Wire shape of a VM row with its disks. */
export function toVm(row: VmWithDisks): Vm {
  return {
    id: row.id,
    name: row.name,
    cluster_id: row.cluster_id,
    host_id: row.host_id,
    state: row.state as Vm['state'],
    state_reason: row.state_reason,
    desired_state: row.desired_state as Vm['desired_state'],
    cpus: row.cpus,
    memory_mib: row.memory_mib,
    os_type: row.os_type,
    boot_order: row.boot_order,
    cdrom: cdromOf(row),
    disks: row.disks.map((d) => ({
      id: d.id,
      name: d.name,
      size_gib: d.size_gib,
      size_bytes: d.size_bytes,
      format: d.format,
      interface: d.interface,
      bootable: d.bootable,
      active: d.active,
      storage_domain_id: d.storage_domain_id,
    })),
    nics: row.nics,
    console: row.console_type as Vm['console'],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['vms'];

export const vmRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.vms;

  app.get(
    '/vms',
    {
      schema: {
        tags: TAGS,
        summary: 'List VMs (filter with ?cluster_id=, ?host_id=)',
        querystring: VmListQuery,
        response: { 200: Type.Ref(VmPage), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'vm.list', { kind: 'vm' });
      const { cluster_id, host_id, ...list } = request.query;
      const page = pageRequest(list, VM_SORT_COLUMNS);
      const filter = {
        ...(cluster_id ? { clusterId: cluster_id } : {}),
        ...(host_id ? { hostId: host_id } : {}),
      };
      return pageBody(await service.list(page, filter), page.sortSpec, toVm);
    },
  );

  app.get(
    '/vms/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a VM (with its ETag)',
        params: IdParams,
        response: { 200: Type.Ref(Vm), ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'vm.read', { kind: 'vm', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toVm(row);
    },
  );

  app.post(
    '/vms',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a VM (down) in a cluster, with new blank disks',
        body: VmCreate,
        response: { 201: Type.Ref(Vm), ...errorResponses(...AUTHED, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'vm.create', {
        kind: 'vm',
        parents: [{ kind: 'cluster', id: request.body.cluster_id }],
      });
      const row = await service.create(principal, request.body);
      setEtag(reply, row.version);
      reply.header('location', `/api/v1/vms/${row.id}`);
      return reply.code(201).send(toVm(row));
    },
  );

  app.patch(
    '/vms/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Update a VM (requires If-Match); hardware changes apply at the next start',
        params: IdParams,
        body: VmUpdate,
        response: { 200: Type.Ref(Vm), ...errorResponses(...AUTHED, 404, 409, 412, 413, 415, 428) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'vm.update', { kind: 'vm', id });
      const row = await service.update(principal, id, expectedVersion(request, true), request.body);
      setEtag(reply, row.version);
      return toVm(row);
    },
  );

  app.delete(
    '/vms/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a VM that is down (an operation; ?remove_disks=false keeps the images)',
        params: IdParams,
        querystring: VmDeleteQuery,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'vm.delete', { kind: 'vm', id });
      const { operationId } = await service.delete(principal, id, request.query.remove_disks ?? true);
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );

  for (const action of VM_ACTIONS) {
    app.post(
      `/vms/:id/${action}`,
      {
        schema: {
          tags: TAGS,
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} a VM (an operation of type vm.${action})`,
          params: IdParams,
          response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409) },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id } = request.params;
        authorize(principal, `vm.${action}`, { kind: 'vm', id });
        const { operationId } = await service.act(principal, id, action);
        return sendAccepted(reply, await deps.operations.get(operationId));
      },
    );
  }

  app.post(
    '/vms/:id/console',
    {
      schema: {
        tags: TAGS,
        summary: 'Open a console: a one-time ticket (≤ 120 s) and the WebSocket to use it on',
        params: IdParams,
        body: VmConsoleRequest,
        response: { 201: VmConsoleTicket, ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'vm.console', { kind: 'vm', id });
      if (!deps.consoles) throw new Unavailable('unavailable', 'consoles are not available on this engine');
      const opened = await deps.consoles.open(principal.userId, id, request.body.type);
      // The ticket is a credential: never cached by anything between.
      reply.header('cache-control', 'no-store');
      return reply.code(201).send(opened);
    },
  );
};
