import { Type } from '@sinclair/typebox';
import {
  ExportImportAccepted,
  ExportImportParams,
  ExportImportRequest,
  ExportList,
  ExportRequest,
  IdParams,
  OperationAccepted,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { Unavailable } from '../../errors';
import { operationLocation } from '../../operations';
import type { ExportService } from '../../services/exports';
import type { AppDeps } from '../deps';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';

const TAGS = ['exports'];

/** Export and import of VMs and templates through export storage domains (OVF / OVA). */
export const exportRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = (): ExportService => {
    if (!deps.exports) throw new Unavailable('unavailable', 'this engine has no export service');
    return deps.exports;
  };

  // VMs and templates export alike: one route each, the same body, answer and errors.
  for (const kind of ['vm', 'template'] as const) {
    const what = kind === 'vm' ? 'a VM that is down' : 'a template';
    app.post(
      `/${kind}s/:id/export`,
      {
        schema: {
          tags: TAGS,
          summary: `Export ${what} to an export domain as OVF + disks or as one OVA (${kind}.export)`,
          params: IdParams,
          body: ExportRequest,
          response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409, 415, 503) },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id } = request.params;
        authorize(principal, `${kind}.export`, { kind, id });
        const exports = service();
        const { operationId } =
          kind === 'vm'
            ? await exports.exportVm(principal, id, request.body)
            : await exports.exportTemplate(principal, id, request.body);
        return sendAccepted(reply, await deps.operations.get(operationId));
      },
    );
  }

  app.get(
    '/storage-domains/:id/exports',
    {
      schema: {
        tags: TAGS,
        summary: 'List the VMs and templates an export domain holds (read from the storage itself)',
        params: IdParams,
        response: { 200: ExportList, ...errorResponses(...AUTHED, 404, 409, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'storage_domain.read', { kind: 'storage_domain', id });
      return service().list(id);
    },
  );

  app.post(
    '/storage-domains/:id/exports/:entity_id/import',
    {
      schema: {
        tags: TAGS,
        summary: 'Import an exported VM or template onto a data domain (vm.import / template.import)',
        params: ExportImportParams,
        body: ExportImportRequest,
        response: { 202: ExportImportAccepted, ...errorResponses(...AUTHED, 404, 409, 415, 503) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id, entity_id: entityId } = request.params;
      authorize(principal, 'vm.create', {
        kind: 'vm',
        parents: [{ kind: 'cluster', id: request.body.cluster_id }],
      });
      const out = await service().importExport(principal, id, entityId, request.body);
      reply.header('location', operationLocation(out.operationId));
      return reply.code(202).send({
        operation: await deps.operations.get(out.operationId),
        kind: out.kind,
        id: out.id,
        name: out.name,
      });
    },
  );
};
