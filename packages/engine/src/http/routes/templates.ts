import { Type } from '@sinclair/typebox';
import {
  IdParams,
  OperationAccepted,
  type Template,
  TemplateAccepted,
  TemplateCreate,
  TemplateList,
  Template as TemplateSchema,
  TemplateUpdate,
  TemplateVmAccepted,
  TemplateVmCreate,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { cloneTemplate } from '../../services/template-clones';
import { createTemplateService, type TemplateView } from '../../services/templates';
import { operationLocation } from '../../operations';
import type { AppDeps } from '../deps';
import { expectedVersion, setEtag } from '../etag';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';
import { toVm } from './vms';

/** Wire shape of a template. */
export function toTemplate(row: TemplateView): Template {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    cluster_id: row.cluster_id,
    version_of: row.version_of,
    version_number: row.version_number,
    cpus: row.cpus,
    memory_mib: row.memory_mib,
    os_type: row.os_type,
    boot_order: row.boot_order,
    nics: row.nics,
    console: row.console_type,
    created_from_vm_id: row.created_from_vm_id,
    state: row.state,
    disks: row.disks.map((d) => ({
      disk_id: d.disk_id,
      volume_id: d.volume_id,
      storage_domain_id: d.storage_domain_id,
      position: d.position,
      interface: d.interface,
      bootable: d.bootable,
      size_bytes: d.size_bytes,
      format: d.format,
    })),
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['templates'];
const LIST_MAX = 500;

export const templateRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  // Built here rather than in services/index.ts: templates only need the shared audit and operations.
  const service = createTemplateService({
    db: deps.db,
    log: deps.log,
    audit: deps.services.audit,
    operations: deps.services.operations,
  });

  app.get(
    '/templates',
    {
      schema: {
        tags: TAGS,
        summary: 'List templates by name (at most 500)',
        response: { 200: TemplateList, ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'template.list', { kind: 'template' });
      return { items: (await service.list(LIST_MAX)).map(toTemplate) };
    },
  );

  app.get(
    '/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a template (with its ETag)',
        params: IdParams,
        response: { 200: TemplateSchema, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'template.read', { kind: 'template', id });
      const row = await service.get(id);
      setEtag(reply, row.version);
      return toTemplate(row);
    },
  );

  app.post(
    '/templates',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a template from a VM that is down (template.create copies its disks)',
        body: TemplateCreate,
        response: { 202: TemplateAccepted, ...errorResponses(...AUTHED, 404, 409, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'template.create', {
        kind: 'template',
        parents: [{ kind: 'vm', id: request.body.vm_id }],
      });
      const { template, operationId } = await service.create(principal, request.body);
      reply.header('location', operationLocation(operationId));
      return reply
        .code(202)
        .send({ operation: await deps.operations.get(operationId), template: toTemplate(template) });
    },
  );

  app.patch(
    '/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Rename or describe a template (If-Match)',
        params: IdParams,
        body: TemplateUpdate,
        response: { 200: TemplateSchema, ...errorResponses(...AUTHED, 404, 409, 412, 415, 428) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'template.update', { kind: 'template', id });
      const row = await service.update(principal, id, expectedVersion(request, true), request.body);
      setEtag(reply, row.version);
      return toTemplate(row);
    },
  );

  app.delete(
    '/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a template and its disks (template.delete; refused while thin clones use it)',
        params: IdParams,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'template.delete', { kind: 'template', id });
      const { operationId } = await service.delete(principal, id);
      return sendAccepted(reply, await deps.operations.get(operationId));
    },
  );

  app.post(
    '/templates/:id/vms',
    {
      schema: {
        tags: TAGS,
        summary:
          'Create a VM from a template: thin (overlays on its volumes) or full (copies); vm.clone makes the disks',
        params: IdParams,
        body: TemplateVmCreate,
        response: { 202: TemplateVmAccepted, ...errorResponses(...AUTHED, 404, 409, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'vm.create', { kind: 'vm', parents: [{ kind: 'template', id }] });
      const { vmId, operationId } = await cloneTemplate(
        { db: deps.db, audit: deps.services.audit, operations: deps.services.operations },
        principal,
        id,
        request.body,
      );
      reply.header('location', operationLocation(operationId));
      return reply.code(202).send({
        operation: await deps.operations.get(operationId),
        vm: toVm(await deps.services.vms.get(vmId)),
      });
    },
  );
};
