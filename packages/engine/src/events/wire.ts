import type { Event } from '@vireo/api';
import type { EventRow } from '../db/repositories/events';

/** The API's shape of an event (ids as strings: bigserial may outgrow a JSON number). */
export function toEventJson(row: EventRow): Event {
  return {
    id: String(row.id),
    time: row.time.toISOString(),
    kind: row.kind,
    severity: row.severity,
    message: row.message,
    object_kind: row.object_kind,
    object_id: row.object_id,
    object_name: row.object_name,
    user_id: row.user_id,
    username: row.username,
    operation_id: row.operation_id,
    details: row.details ?? {},
  };
}
