import { type Static, Type } from '@sinclair/typebox';
import { ListQuery, Page, Timestamp, Uuid } from './common';

/**
 * Operation types, an append-only list: a type is never renamed or removed, because operation rows
 * written by older engines keep naming it. The engine stores the same list in its
 * `operation_types` table (seeded by migrations); an operation of a type missing there cannot exist.
 */
export const OPERATION_TYPES = ['events.purge'] as const;
export type OperationType = (typeof OPERATION_TYPES)[number];

export const OPERATION_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];
/** States an operation never leaves. */
export const TERMINAL_OPERATION_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

export const OperationStateSchema = Type.Union(
  OPERATION_STATES.map((s) => Type.Literal(s)),
  { description: 'pending → running → succeeded | failed | cancelled' },
);

/** What an operation acts on. */
export const OperationTarget = Type.Object({
  kind: Type.String({ description: 'Object kind, e.g. `vm`, `host`, `datacenter`.' }),
  id: Uuid,
});
export type OperationTarget = Static<typeof OperationTarget>;

export const OperationError = Type.Object({
  code: Type.String({ description: 'Stable snake_case code.' }),
  message: Type.String({ description: 'What went wrong and what to do about it.' }),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type OperationError = Static<typeof OperationError>;

export const Operation = Type.Object(
  {
    id: Uuid,
    type: Type.String({ description: 'One of the operation types, e.g. `events.purge`.' }),
    state: OperationStateSchema,
    progress: Type.Number({ minimum: 0, maximum: 1, description: 'Fraction done, 0..1.' }),
    progress_message: Type.Union([Type.String(), Type.Null()], { description: 'What it is doing now.' }),
    target: Type.Union([OperationTarget, Type.Null()]),
    input: Type.Record(Type.String(), Type.Unknown()),
    result: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    error: Type.Union([OperationError, Type.Null()]),
    cancel_requested: Type.Boolean(),
    created_by: Type.Union([Uuid, Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
    started_at: Type.Union([Timestamp, Type.Null()]),
    finished_at: Type.Union([Timestamp, Type.Null()]),
  },
  {
    $id: 'Operation',
    description: 'Work that outlives a request: follow it with `?wait=N`, cancel with DELETE',
  },
);
export type Operation = Static<typeof Operation>;

/** Body of every `202 Accepted` answer; `Location` names `/api/v1/operations/{id}`. */
export const OperationAccepted = Type.Object(
  { operation: Type.Ref(Operation) },
  { $id: 'OperationAccepted', description: 'Accepted: the work goes on as this operation' },
);
export type OperationAccepted = Static<typeof OperationAccepted>;

/** Longest `?wait=` an operation long-poll may ask for, in seconds. */
export const OPERATION_WAIT_MAX_SECONDS = 60;

export const OperationGetQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: OPERATION_WAIT_MAX_SECONDS,
        description: `Seconds to wait for the operation to finish before answering (0–${OPERATION_WAIT_MAX_SECONDS}).`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type OperationGetQuery = Static<typeof OperationGetQuery>;

export const OPERATION_SORT_FIELDS = ['created_at'] as const;
export const OperationListQuery = ListQuery(OPERATION_SORT_FIELDS, {
  state: Type.Optional(OperationStateSchema),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  target_id: Type.Optional(Uuid),
});
export type OperationListQuery = Static<typeof OperationListQuery>;
export const OperationPage = Page(Type.Ref(Operation), 'OperationPage');
export type OperationPage = Static<typeof OperationPage>;

/**
 * The data of an `operation.progress` frame on `GET /events/stream`. These frames are ephemeral:
 * they carry no SSE `id:`, are not audit events, are never stored in the event log and are never
 * replayed on resume. The operation row holds the same progress for anyone who missed a frame.
 */
export interface OperationProgressFrame {
  /** The operation's id (not an event id). */
  id: string;
  type: string;
  target_kind: string | null;
  target_id: string | null;
  /** Fraction done, 0..1. */
  progress: number;
  message: string | null;
}

/** SSE event name of {@link OperationProgressFrame}s. */
export const OPERATION_PROGRESS_EVENT = 'operation.progress';
