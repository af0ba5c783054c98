import { Type } from '@sinclair/typebox';
import {
  type Disk,
  DiskAccepted,
  DiskAttachment,
  DiskAttachmentAccepted,
  DiskAttachmentCreate,
  DiskAttachmentList,
  DiskCreate,
  DiskDefaults,
  DiskListQuery,
  DiskPage,
  DiskTransferRequest,
  DiskUpdate,
  IdParams,
  OperationAccepted,
  Disk as DiskSchema,
  VmDiskParams,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { DISK_SORT_COLUMNS, type DiskView } from '../../db/repositories/disks';
import { operationLocation } from '../../operations';
import type { AttachmentView } from '../../services/disks';
import type { AppDeps } from '../deps';
import { expectedVersion, setEtag } from '../etag';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';

const GiB = 1024 ** 3;

/** Wire shape of a disk. */
export function toDisk(row: DiskView): Disk {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    storage_domain_id: row.storage_domain_id,
    size_bytes: row.size_bytes,
    size_gib: Math.ceil(row.size_bytes / GiB),
    format: row.format,
    preallocation: row.preallocation,
    shareable: row.shareable,
    encrypted: row.encrypted,
    state: row.state,
    volumes: row.volume_count,
    vm_ids: row.vm_ids,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function toAttachment(a: AttachmentView) {
  return {
    vm_id: a.vm_id,
    disk_id: a.disk_id,
    position: a.position,
    interface: a.interface as 'virtio',
    bootable: a.bootable,
    active: a.active,
    disk: toDisk(a.disk),
  };
}

const TAGS = ['disks'];

export const diskRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.disks;

  app.get(
    '/disks',
    {
      schema: {
        tags: TAGS,
        summary: 'List disks (filter with ?storage_domain_id=, ?vm_id=)',
        querystring: DiskListQuery,
        response: { 200: DiskPage, ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'disk.list', { kind: 'disk' });
      const { storage_domain_id, vm_id, ...list } = request.query;
      const page = pageRequest(list, DISK_SORT_COLUMNS);
      const filter = {
        ...(storage_domain_id ? { storageDomainId: storage_domain_id } : {}),
        ...(vm_id ? { vmId: vm_id } : {}),
      };
      return pageBody(await service.list(page, filter), page.sortSpec, toDisk);
    },
  );

  app.get(
    '/disks/defaults',
    {
      schema: {
        tags: TAGS,
        summary: 'What a new disk gets when the request leaves a choice out (encryption)',
        response: { 200: DiskDefaults, ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'disk.list', { kind: 'disk' });
      return service.defaults();
    },
  );

  app.get(
    '/disks/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a disk (with its ETag)',
        params: IdParams,
        response: { 200: DiskSchema, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'disk.read', { kind: 'disk', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toDisk(row);
    },
  );

  app.post(
    '/disks',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a disk in a data domain (an operation of type disk.create)',
        body: DiskCreate,
        response: { 202: DiskAccepted, ...errorResponses(...AUTHED, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'disk.create', {
        kind: 'disk',
        parents: [{ kind: 'storage_domain', id: request.body.storage_domain_id }],
      });
      const { disk, operationId } = await service.create(principal, request.body);
      const operation = await deps.operations.get(operationId);
      reply.header('location', operationLocation(operationId));
      return reply.code(202).send({ operation, disk: toDisk(disk) });
    },
  );

  app.patch(
    '/disks/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Rename, describe or extend a disk (If-Match); a larger size answers 202 (disk.extend)',
        params: IdParams,
        body: DiskUpdate,
        response: {
          200: DiskSchema,
          202: DiskAccepted,
          ...errorResponses(...AUTHED, 404, 409, 412, 413, 415, 428),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'disk.update', { kind: 'disk', id });
      const { disk, operationId } = await service.update(
        principal,
        id,
        expectedVersion(request, true),
        request.body,
      );
      setEtag(reply, disk.version);
      if (!operationId) return toDisk(disk);
      reply.header('location', operationLocation(operationId));
      return reply.code(202).send({ operation: await deps.operations.get(operationId), disk: toDisk(disk) });
    },
  );

  for (const action of ['move', 'copy'] as const) {
    app.post(
      `/disks/:id/${action}`,
      {
        schema: {
          tags: TAGS,
          summary:
            action === 'move'
              ? 'Move a disk to another data domain (disk.move, with progress; its VMs must be down)'
              : 'Copy a disk into a new disk in a data domain (disk.copy, with progress)',
          params: IdParams,
          body: DiskTransferRequest,
          response: { 202: DiskAccepted, ...errorResponses(...AUTHED, 404, 409) },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id } = request.params;
        authorize(principal, `disk.${action}`, { kind: 'disk', id });
        const { disk, operationId } = await service[action](principal, id, request.body);
        reply.header('location', operationLocation(operationId));
        return reply
          .code(202)
          .send({ operation: await deps.operations.get(operationId), disk: toDisk(disk) });
      },
    );
  }

  app.delete(
    '/disks/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a disk and its volumes (disk.delete; refused while a running VM uses it)',
        params: IdParams,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'disk.delete', { kind: 'disk', id });
      const { operationId } = await service.delete(principal, id);
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );

  app.get(
    '/vms/:id/disk-attachments',
    {
      schema: {
        tags: TAGS,
        summary: "A VM's disks in guest order",
        params: IdParams,
        response: { 200: DiskAttachmentList, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'vm.read', { kind: 'vm', id });
      return { items: (await service.listAttachments(id)).map(toAttachment) };
    },
  );

  app.post(
    '/vms/:id/disk-attachments',
    {
      schema: {
        tags: TAGS,
        summary: 'Attach a disk to a VM: 201 when it is down, 202 (disk.attach, hot-plug) when it runs',
        params: IdParams,
        body: DiskAttachmentCreate,
        response: {
          201: DiskAttachment,
          202: DiskAttachmentAccepted,
          ...errorResponses(...AUTHED, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'vm.update', { kind: 'vm', id });
      const { attachment, operationId } = await service.attach(principal, id, request.body);
      if (!operationId) return reply.code(201).send(toAttachment(attachment));
      reply.header('location', operationLocation(operationId));
      return reply
        .code(202)
        .send({ operation: await deps.operations.get(operationId), attachment: toAttachment(attachment) });
    },
  );

  app.delete(
    '/vms/:id/disk-attachments/:disk_id',
    {
      schema: {
        tags: TAGS,
        summary:
          'Detach a disk from a VM (it stays as a floating disk): 204, or 202 (disk.detach) when it runs',
        params: VmDiskParams,
        response: {
          202: Type.Ref(OperationAccepted),
          204: { type: 'null', description: 'Detached' },
          ...errorResponses(...AUTHED, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id, disk_id } = request.params;
      authorize(principal, 'vm.update', { kind: 'vm', id });
      const { operationId } = await service.detach(principal, id, disk_id);
      if (!operationId) return reply.code(204).send();
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );
};
