import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  IdParams,
  Operation,
  OperationAccepted,
  OperationGetQuery,
  OperationListQuery,
  OperationPage,
} from '@vireo/api';
import type { FastifyReply } from 'fastify';
import { authorize } from '../../auth/authorize';
import { OPERATION_SORT_COLUMNS } from '../../db/repositories/operations';
import { operationLocation, toOperationJson } from '../../operations';
import type { AppDeps } from '../deps';
import { pageBody, pageRequest } from '../list';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';

const TAGS = ['operations'];

/** `202 Accepted` for an operation: `Location` to follow it and `{operation}` as body. */
export function sendAccepted(reply: FastifyReply, operation: Operation) {
  reply.header('location', operationLocation(operation.id));
  return reply.code(202).send({ operation });
}

/** `/operations`: list, show (with `?wait=N` long-poll) and cancel. */
export const operationRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const operations = deps.operations;
  // Long polls end when the app closes, so shutdown never waits out a `?wait=60`.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  app.get(
    '/operations',
    {
      schema: {
        tags: TAGS,
        summary: 'List operations (newest first)',
        querystring: OperationListQuery,
        response: { 200: Type.Ref(OperationPage), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      authorize(principalOf(request), 'operation.list', { kind: 'operation' });
      const { state, type, target_id, ...list } = request.query;
      const page = pageRequest(list, OPERATION_SORT_COLUMNS, '-created_at');
      const filter = {
        ...(state ? { state } : {}),
        ...(type ? { type } : {}),
        ...(target_id ? { targetId: target_id } : {}),
      };
      return pageBody(await operations.list(filter, page), page.sortSpec, toOperationJson);
    },
  );

  app.get(
    '/operations/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get an operation; `?wait=N` answers when it finishes or after N seconds',
        params: IdParams,
        querystring: OperationGetQuery,
        response: { 200: Type.Ref(Operation), ...errorResponses(...AUTHED, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      authorize(principalOf(request), 'operation.read', { kind: 'operation', id });
      const wait = request.query.wait ?? 0;
      if (wait === 0) return operations.get(id);
      // Stop waiting when the client gives up, so an abandoned poll holds nothing.
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableEnded) gone.abort();
      };
      reply.raw.once('close', onClose);
      try {
        return await operations.wait(id, wait * 1000, AbortSignal.any([gone.signal, closing.signal]));
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );

  app.delete(
    '/operations/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Cancel an operation',
        description:
          'A pending operation is cancelled at once (200, the operation). A running one is asked to ' +
          'stop (202, Location): it ends `cancelled` when its work reaches a safe point. A finished ' +
          'one answers 409 `operation_finished`.',
        params: IdParams,
        response: {
          200: Type.Ref(Operation),
          202: Type.Ref(OperationAccepted),
          ...errorResponses(...AUTHED, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params;
      authorize(principal, 'operation.cancel', { kind: 'operation', id });
      const op = await operations.cancel(id, { userId: principal.userId, username: principal.username });
      if (op.state === 'cancelled') return op;
      return sendAccepted(reply, op);
    },
  );
};
