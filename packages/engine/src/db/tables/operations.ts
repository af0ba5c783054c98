import type { ColumnType, Generated } from 'kysely';

/** `state` of an operation; the terminal ones are `succeeded`, `failed` and `cancelled`. */
export type OperationStateColumn = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Stored shape of `operations.error`. */
export interface OperationErrorJson {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** jsonb: objects come back parsed; writes pass JSON text (or SQL NULL). */
type Json<T> = ColumnType<T | null, string | null | undefined, string | null>;

export interface OperationTypesTable {
  name: string;
  description: string;
  added_at: Generated<Date>;
}

export interface OperationsTable {
  id: Generated<string>;
  type: string;
  state: Generated<OperationStateColumn>;
  progress: Generated<number>;
  progress_message: string | null;
  target_kind: string | null;
  target_id: string | null;
  input: ColumnType<Record<string, unknown>, string | undefined, string>;
  result: Json<Record<string, unknown>>;
  error: Json<OperationErrorJson>;
  created_by: string | null;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  cancel_requested: Generated<boolean>;
  claimed_by: string | null;
  lease_until: Timestamp | null;
  attempts: Generated<number>;
}

export interface JobLeasesTable {
  name: string;
  holder: string;
  lease_until: Timestamp;
  last_started_at: Timestamp | null;
  last_finished_at: Timestamp | null;
}

// Kysely row types for this area's tables (see migrations/0004_operations.sql).
export interface OperationTables {
  operation_types: OperationTypesTable;
  operations: OperationsTable;
  job_leases: JobLeasesTable;
}
