import { EVENT_KIND_PATTERN, type EventSeverity } from '@vireo/api';
import type { Executor } from '../db/schema';
import { insertEvent, insertEvents, type NewEvent } from '../db/repositories/events';

/** One thing that happened, as a service describes it. */
export interface AuditInput {
  /** `<object kind>.<what happened>`, e.g. `datacenter.created`. */
  kind: string;
  severity: EventSeverity;
  /** A sentence a person reads in the event log. */
  message: string;
  object?: { kind: string; id?: string | null; name?: string | null } | null;
  userId?: string | null;
  /** Kept beside the id so the log still names the user after the account is deleted. */
  username?: string | null;
  operationId?: string | null;
  /** Structured context. Never secrets. */
  details?: Record<string, unknown>;
}

export interface RecordedEvent {
  id: number;
  time: Date;
}

/** Writes audit events; see {@link Audit.record}. */
export interface Audit {
  /**
   * Records an event inside the caller's transaction (pass the transaction as `executor`), so the
   * event exists exactly when the change it describes does. Live streams hear of it on commit.
   */
  record(executor: Executor, input: AuditInput): Promise<RecordedEvent>;
  /** {@link Audit.record} for several events at once: one statement, in the order given. */
  recordMany(executor: Executor, inputs: readonly AuditInput[]): Promise<RecordedEvent[]>;
}

const KIND_RE = new RegExp(EVENT_KIND_PATTERN);
const MESSAGE_MAX = 4096;

export function createAudit(): Audit {
  return {
    async record(executor, input) {
      return insertEvent(executor, toNewEvent(input));
    },
    async recordMany(executor, inputs) {
      return insertEvents(executor, inputs.map(toNewEvent));
    },
  };
}

function toNewEvent(input: AuditInput): NewEvent {
  // A bad kind is a programming error; failing loudly beats an audit log nobody can filter.
  if (!KIND_RE.test(input.kind)) throw new Error(`invalid event kind ${JSON.stringify(input.kind)}`);
  const message =
    input.message.length > MESSAGE_MAX ? `${input.message.slice(0, MESSAGE_MAX - 1)}…` : input.message;
  return {
    kind: input.kind,
    severity: input.severity,
    message,
    objectKind: input.object?.kind ?? null,
    objectId: input.object?.id ?? null,
    objectName: input.object?.name ?? null,
    userId: input.userId ?? null,
    username: input.username ?? null,
    operationId: input.operationId ?? null,
    details: input.details ?? {},
  };
}
