import { type Static, Type } from '@sinclair/typebox';
import { ListQuery, Page, Timestamp, Uuid } from './common';

export const EVENT_SEVERITIES = ['info', 'warning', 'error', 'audit'] as const;
export type EventSeverity = (typeof EVENT_SEVERITIES)[number];
export const EventSeveritySchema = Type.Union(EVENT_SEVERITIES.map((s) => Type.Literal(s)));

/** Event kinds are dotted lower-case words: `<object kind>.<what happened>`. */
export const EVENT_KIND_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$';

/**
 * One audit event, as listed by `GET /events` and sent as the `data:` of `GET /events/stream`
 * (whose SSE `id:` is the same `id`, and `event:` the `kind`).
 */
export const Event = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9]+$', description: 'Ever-growing id; the stream resumes after it.' }),
    time: Timestamp,
    kind: Type.String({ examples: ['datacenter.created', 'operation.failed'] }),
    severity: EventSeveritySchema,
    message: Type.String({ description: 'What happened, as a sentence.' }),
    object_kind: Type.Union([Type.String(), Type.Null()]),
    object_id: Type.Union([Uuid, Type.Null()]),
    object_name: Type.Union([Type.String(), Type.Null()]),
    user_id: Type.Union([Uuid, Type.Null()]),
    username: Type.Union([Type.String(), Type.Null()]),
    operation_id: Type.Union([Uuid, Type.Null()]),
    details: Type.Record(Type.String(), Type.Unknown()),
  },
  { $id: 'Event', description: 'Something that happened: an audit record' },
);
export type Event = Static<typeof Event>;

const KindPrefix = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[a-z0-9_.]+$',
  description: 'Kind or kind prefix: `vm.` matches every VM event, `vm.started` only that kind.',
});

/** Filters shared by the list and the stream. `kind` may repeat (any of them matches). */
export const EventFilters = {
  since: Type.Optional(
    Type.String({ format: 'date-time', description: 'Only events at or after this time.' }),
  ),
  after_id: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,18}$', description: 'Only events after this id.' }),
  ),
  kind: Type.Optional(
    Type.Array(KindPrefix, {
      minItems: 1,
      maxItems: 20,
      description: 'Kind or kind prefix (`vm.`); repeat the parameter for several.',
    }),
  ),
  severity: Type.Optional(EventSeveritySchema),
  object_id: Type.Optional(Uuid),
};

export const EVENT_SORT_FIELDS = ['-id'] as const;
export const EventListQuery = ListQuery(EVENT_SORT_FIELDS, EventFilters);
export type EventListQuery = Static<typeof EventListQuery>;
export const EventPage = Page(Type.Ref(Event), 'EventPage');
export type EventPage = Static<typeof EventPage>;

export const EventStreamQuery = Type.Object(
  {
    ...EventFilters,
    last_event_id: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,18}$',
        description: 'Resume after this id (same as the `Last-Event-ID` header, which wins).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type EventStreamQuery = Static<typeof EventStreamQuery>;

/** `POST /events/purge`: deletes events older than `before` as an operation (`events.purge`). */
export const EventsPurgeRequest = Type.Object(
  {
    before: Type.String({
      format: 'date-time',
      description: 'Delete events older than this (RFC 3339); at least 24 h ago.',
    }),
  },
  { additionalProperties: false },
);
export type EventsPurgeRequest = Static<typeof EventsPurgeRequest>;
/** `before` must be at least this far in the past, so nobody wipes today's audit by mistake. */
export const EVENTS_PURGE_MIN_AGE_MS = 24 * 60 * 60 * 1000;
