import type { Operation, OperationState } from '@vireo/api';
import type { OperationRow } from '../db/repositories/operations';

export function isTerminal(state: OperationState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/** The API's shape of an operation (design.md, "Operation"). */
export function toOperationJson(row: OperationRow): Operation {
  return {
    id: row.id,
    type: row.type,
    state: row.state,
    progress: row.progress,
    progress_message: row.progress_message,
    target: row.target_kind && row.target_id ? { kind: row.target_kind, id: row.target_id } : null,
    input: row.input ?? {},
    result: row.result ?? null,
    error: row.error ?? null,
    cancel_requested: row.cancel_requested,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    finished_at: row.finished_at?.toISOString() ?? null,
  };
}

/** `Location` of an operation, for 202 answers. */
export function operationLocation(id: string): string {
  return `/api/v1/operations/${id}`;
}
