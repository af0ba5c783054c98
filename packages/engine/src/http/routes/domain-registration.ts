import { Type } from '@sinclair/typebox';
import {
  IdParams,
  OperationAccepted,
  RegisterVmBody,
  RegistrationParams,
  UnregisteredList,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import { Unavailable } from '../../errors';
import type { RegistrationService } from '../../services/domain-registration';
import type { AppDeps } from '../deps';
import { principalOf } from '../plugins/auth';
import { sendAccepted } from './operations';
import { AUTHED, errorResponses } from './responses';

const TAGS = ['storage-domains'];

/** `/storage-domains/{id}/unregistered`: what an imported data domain holds that this engine does not know. */
export const domainRegistrationRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (
  app,
  { deps },
) => {
  const service = (): RegistrationService => {
    if (!deps.registration)
      throw new Unavailable('unavailable', 'domain registration needs the agents (not configured here)');
    return deps.registration;
  };

  app.get(
    '/storage-domains/:id/unregistered',
    {
      schema: {
        tags: TAGS,
        summary: 'Disks and VMs on an active data domain that this engine does not know (read from storage)',
        params: IdParams,
        response: { 200: UnregisteredList, ...errorResponses(...AUTHED, 404, 409, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'storage_domain.read', { kind: 'storage_domain', id });
      return service().listUnregistered(id);
    },
  );

  app.post(
    '/storage-domains/:id/unregistered/disks/:item_id/register',
    {
      schema: {
        tags: TAGS,
        summary:
          'Register a disk found on the domain, with its volume chain (an operation of type disk.register)',
        params: RegistrationParams,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id, item_id } = request.params;
      authorize(principal, 'disk.create', { kind: 'storage_domain', id });
      return sendAccepted(reply, await service().registerDisk(principal, id, item_id));
    },
  );

  app.post(
    '/storage-domains/:id/unregistered/vms/:item_id/register',
    {
      schema: {
        tags: TAGS,
        summary:
          'Register a VM or template found on the domain, with its disks (an operation of type vm.register)',
        params: RegistrationParams,
        body: RegisterVmBody,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 400, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id, item_id } = request.params;
      authorize(principal, 'vm.create', { kind: 'storage_domain', id });
      return sendAccepted(reply, await service().registerVm(principal, id, item_id, request.body));
    },
  );
};
