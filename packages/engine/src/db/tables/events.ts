import type { ColumnType, Generated } from 'kysely';

export type EventSeverityColumn = 'info' | 'warning' | 'error' | 'audit';

export interface EventsTable {
  /** bigserial; parsed to a number by the connection's INT8 parser. */
  id: Generated<number>;
  time: ColumnType<Date, Date | string | undefined, never>;
  kind: string;
  severity: EventSeverityColumn;
  message: string;
  object_kind: string | null;
  object_id: string | null;
  object_name: string | null;
  user_id: string | null;
  username: string | null;
  operation_id: string | null;
  details: ColumnType<Record<string, unknown>, string | undefined, never>;
}

// Kysely row types for this area's tables (see migrations/0005_events.sql).
export interface EventTables {
  events: EventsTable;
}
