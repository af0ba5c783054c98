import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  EVENTS_PURGE_MIN_AGE_MS,
  EventListQuery,
  EventPage,
  EventStreamQuery,
  EventsPurgeRequest,
  OperationAccepted,
  type OperationProgressFrame,
} from '@vireo/api';
import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { authorize, isAuthorized } from '../../auth/authorize';
import type { Principal } from '../../auth/principal';
import { type EventFilter, type EventRow, listEvents } from '../../db/repositories/events';
import { InvalidInput } from '../../errors';
import { serveEventStream } from '../../events/stream';
import { toEventJson } from '../../events/wire';
import { EVENTS_PURGE, parsePurgeBefore } from '../../operations/types/events-purge';
import type { AppDeps } from '../deps';
import { principalOf } from '../plugins/auth';
import { AUTHED, errorResponses } from './responses';
import { sendAccepted } from './operations';

const TAGS = ['events'];
const ID_RE = /^[0-9]{1,18}$/;

interface FilterQuery {
  since?: string;
  after_id?: string;
  kind?: string[];
  severity?: EventRow['severity'];
  object_id?: string;
  search?: string;
}

function filterOf(q: FilterQuery): EventFilter {
  return {
    ...(q.kind?.length ? { kinds: q.kind } : {}),
    ...(q.severity ? { severity: q.severity } : {}),
    ...(q.object_id ? { objectId: q.object_id } : {}),
    ...(q.since ? { since: new Date(q.since) } : {}),
    ...(q.after_id ? { afterId: Number(q.after_id) } : {}),
    ...(q.search ? { search: q.search } : {}),
  };
}

/** Events of objects the principal may not read are left out (administrators see all). */
function visibleTo(principal: Principal) {
  return (row: EventRow) =>
    isAuthorized(principal, 'event.read', {
      kind: row.object_kind ?? 'event',
      ...(row.object_id ? { id: row.object_id } : {}),
    });
}

/** The same check as for the operation's events: may the principal read events of its target? */
function progressVisibleTo(principal: Principal) {
  return (frame: OperationProgressFrame) =>
    isAuthorized(principal, 'event.read', {
      kind: frame.target_kind ?? 'event',
      ...(frame.target_id ? { id: frame.target_id } : {}),
    });
}

// Event cursors are event ids (not the UUID keyset cursors of other lists), in the same opaque form.
function encodeCursor(sort: string, id: number): string {
  return Buffer.from(JSON.stringify({ s: sort, k: String(id) }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, sort: string): number {
  const bad = (reason: string) =>
    new InvalidInput(
      'invalid_cursor',
      `the cursor is not valid (${reason}); start again from the first page`,
      {
        details: { parameter: 'cursor' },
      },
    );
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('not base64url');
  let p: { s?: unknown; k?: unknown } | null;
  try {
    p = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('undecodable');
  }
  if (!p || typeof p.k !== 'string' || !ID_RE.test(p.k)) throw bad('malformed');
  if (p.s !== sort) throw bad('made for another sort order');
  return Number(p.k);
}

function lastEventId(request: FastifyRequest, query: { last_event_id?: string }): number | undefined {
  const header = request.headers['last-event-id'];
  const value = typeof header === 'string' && header !== '' ? header.trim() : query.last_event_id;
  if (value === undefined) return undefined;
  if (!ID_RE.test(value)) {
    throw new InvalidInput('invalid_last_event_id', 'Last-Event-ID must be an event id (digits)', {
      details: { last_event_id: value.slice(0, 64) },
    });
  }
  return Number(value);
}

/** `/events`: the audit log, its live stream, and purging old entries. */
export const eventRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { events, operations } = deps;
  const streams = new Set<ServerResponse>();
  // Streams never end by themselves: end them when the app closes so shutdown does not hang.
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });

  app.get(
    '/events',
    {
      schema: {
        tags: TAGS,
        summary: 'List events (newest first)',
        querystring: EventListQuery,
        response: { 200: Type.Ref(EventPage), ...errorResponses(...AUTHED) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      authorize(principal, 'event.list', { kind: 'event' });
      const { limit = 50, cursor, sort = '-id', ...rest } = request.query;
      if (sort !== '-id' && sort !== 'id') {
        throw new InvalidInput('invalid_sort', `cannot sort by "${sort.slice(0, 64)}"`, {
          details: { parameter: 'sort', allowed: ['id', '-id'] },
        });
      }
      const after = cursor === undefined ? undefined : decodeCursor(cursor, sort);
      const page = await listEvents(deps.db, filterOf(rest), {
        limit,
        desc: sort === '-id',
        ...(after === undefined ? {} : { after }),
      });
      const visible = visibleTo(principal);
      return {
        items: page.rows.filter(visible).map(toEventJson),
        next_cursor: page.next === null ? null : encodeCursor(sort, page.next),
      };
    },
  );

  app.get(
    '/events/stream',
    {
      schema: {
        tags: TAGS,
        summary: 'Live events (Server-Sent Events)',
        description:
          'A `text/event-stream`: each event has `id:` (the event id), `event:` (its kind) and `data:` ' +
          '(the event as JSON). Reconnect with `Last-Event-ID` (or `?last_event_id=`) to get what was ' +
          'missed first, in order; `?since=` starts at a time. A comment line is sent every 15 s. ' +
          'Clients that do not keep up are disconnected and should reconnect with Last-Event-ID. ' +
          'Running operations also send ephemeral `operation.progress` frames (data: `{id, type, ' +
          'target_kind, target_id, progress, message}`, `id` being the operation id) with no `id:` ' +
          'line: they do not move Last-Event-ID and are never replayed.',
        querystring: EventStreamQuery,
        produces: ['text/event-stream'],
        response: {
          200: Type.String({ description: 'The event stream' }),
          ...errorResponses(...AUTHED),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'event.list', { kind: 'event' });
      const resumeAfter =
        lastEventId(request, request.query) ??
        (request.query.after_id ? Number(request.query.after_id) : undefined);
      const { since, after_id: _a, last_event_id: _l, ...filters } = request.query;
      const filter = filterOf(filters);
      reply.hijack();
      const res = reply.raw;
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('x-request-id', request.id);
      streams.add(res);
      try {
        await serveEventStream(
          res,
          { db: deps.db, notifier: events.notifier, progress: events.progress, log: request.log as Logger },
          {
            filter,
            ...(resumeAfter === undefined ? {} : { lastEventId: resumeAfter }),
            ...(since ? { since: new Date(since) } : {}),
            visible: visibleTo(principal),
            visibleProgress: progressVisibleTo(principal),
            heartbeatMs: events.stream.heartbeatMs,
            maxBufferedBytes: events.stream.maxBufferedBytes,
            endAt: principal.expiresAt,
          },
        );
      } finally {
        streams.delete(res);
      }
    },
  );

  app.post(
    '/events/purge',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete old events (an operation)',
        description: `Deletes events older than \`before\`, which must be at least ${EVENTS_PURGE_MIN_AGE_MS / 3_600_000} h ago (else 400 \`purge_before_too_recent\`). Answers 202 with the \`events.purge\` operation.`,
        body: EventsPurgeRequest,
        response: { 202: Type.Ref(OperationAccepted), ...errorResponses(...AUTHED, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      authorize(principal, 'event.purge', { kind: 'event' });
      const before = parsePurgeBefore(request.body.before);
      const operation = await deps.db.transaction().execute((trx) =>
        operations.create(trx, {
          type: EVENTS_PURGE,
          target: null,
          createdBy: principal.userId,
          createdByName: principal.username,
          input: { before: before.toISOString() },
        }),
      );
      return sendAccepted(reply, operation);
    },
  );
};
