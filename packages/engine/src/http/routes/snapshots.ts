import {
  IdParams,
  type Snapshot,
  SnapshotAccepted,
  SnapshotCreate,
  SnapshotList,
  SnapshotParams,
  Snapshot as SnapshotSchema,
} from '@vireo/api';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authorize } from '../../auth/authorize';
import type { SnapshotView } from '../../db/repositories/snapshots';
import { operationLocation } from '../../operations';
import type { AppDeps } from '../deps';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

/** Wire shape of a snapshot. */
export function toSnapshot(row: SnapshotView): Snapshot {
  return {
    id: row.id,
    vm_id: row.vm_id,
    description: row.description,
    memory: row.memory,
    state: row.state,
    disks: row.volumes.map((v) => ({
      disk_id: v.disk_id,
      volume_id: v.volume_id,
      preview_volume_id: v.preview_volume_id,
    })),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const TAGS = ['snapshots'];

/** `/vms/{id}/snapshots`: list, take, show, delete (merge), preview, commit/undo, revert. */
export const snapshotRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const service = deps.services.snapshots;

  app.get(
    '/vms/:id/snapshots',
    {
      schema: {
        tags: TAGS,
        summary: "List a VM's snapshots, oldest first",
        params: IdParams,
        response: { 200: SnapshotList, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      authorize(principalOf(request), 'vm.read', { kind: 'vm', id });
      return { items: (await service.list(id)).map(toSnapshot) };
    },
  );

  app.post(
    '/vms/:id/snapshots',
    {
      schema: {
        tags: TAGS,
        summary: "Take a snapshot of all the VM's disks (live when it runs; memory optional): vm.snapshot",
        params: IdParams,
        body: SnapshotCreate,
        response: { 202: SnapshotAccepted, ...errorResponses(...AUTHED, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'vm.update', { kind: 'vm', id });
      const { snapshot, operationId } = await service.create(principal, id, request.body ?? {});
      reply.header('location', operationLocation(operationId));
      return reply
        .code(202)
        .send({ operation: await deps.operations.get(operationId), snapshot: toSnapshot(snapshot) });
    },
  );

  app.get(
    '/vms/:id/snapshots/:sid',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a snapshot',
        params: SnapshotParams,
        response: { 200: SnapshotSchema, ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request) => {
      const { id, sid } = request.params;
      authorize(principalOf(request), 'vm.read', { kind: 'vm', id });
      return toSnapshot(await service.get(id, sid));
    },
  );

  app.delete(
    '/vms/:id/snapshots/:sid',
    {
      schema: {
        tags: TAGS,
        summary:
          'Delete a snapshot: its volume is merged (live block-commit when the VM runs): snapshot.delete',
        params: SnapshotParams,
        response: { 202: SnapshotAccepted, ...errorResponses(...AUTHED, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id, sid } = request.params;
      authorize(principal, 'vm.update', { kind: 'vm', id });
      const { snapshot, operationId } = await service.remove(principal, id, sid);
      reply.header('location', operationLocation(operationId));
      return reply
        .code(202)
        .send({ operation: await deps.operations.get(operationId), snapshot: toSnapshot(snapshot) });
    },
  );

  for (const action of ['preview', 'revert'] as const) {
    app.post(
      `/vms/:id/snapshots/:sid/${action}`,
      {
        schema: {
          tags: TAGS,
          summary:
            action === 'preview'
              ? 'Run the (down) VM on a throw-away overlay of the snapshot until commit or undo: snapshot.preview'
              : 'Return the (down) VM to the snapshot, dropping what came after it: snapshot.revert',
          params: SnapshotParams,
          response: { 202: SnapshotAccepted, ...errorResponses(...AUTHED, 404, 409) },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id, sid } = request.params;
        authorize(principal, 'vm.update', { kind: 'vm', id });
        const { snapshot, operationId } = await service[action](principal, id, sid);
        reply.header('location', operationLocation(operationId));
        return reply
          .code(202)
          .send({ operation: await deps.operations.get(operationId), snapshot: toSnapshot(snapshot) });
      },
    );
  }

  for (const how of ['commit', 'undo'] as const) {
    app.post(
      `/vms/:id/snapshots/${how}`,
      {
        schema: {
          tags: TAGS,
          summary:
            how === 'commit'
              ? 'Keep the previewed state (later snapshots are dropped): snapshot.commit'
              : 'Drop the preview and return to the state before it: snapshot.undo',
          params: IdParams,
          response: { 202: SnapshotAccepted, ...errorResponses(...AUTHED, 404, 409) },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id } = request.params;
        authorize(principal, 'vm.update', { kind: 'vm', id });
        const { snapshot, operationId } = await service.endPreview(principal, id, how);
        reply.header('location', operationLocation(operationId));
        return reply
          .code(202)
          .send({ operation: await deps.operations.get(operationId), snapshot: toSnapshot(snapshot) });
      },
    );
  }
};
