/**
 * Wire shapes the client relies on. They follow design.md "The API's shape"; resource bodies are
 * deliberately open (`[field: string]: unknown`) so fields the engine adds pass through untouched.
 */

/** One page of a list endpoint. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** Query parameters every list endpoint accepts, plus `<kind>_id` filters. */
export interface ListQuery {
  limit?: number;
  cursor?: string;
  search?: string;
  sort?: string;
  [filter: string]: string | number | boolean | undefined;
}

export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export type OperationState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Long-running work (design.md "Operation"). */
export interface Operation {
  id: string;
  type: string;
  state: OperationState;
  /** 0..1 */
  progress?: number;
  error?: { code: string; message: string; details?: Record<string, unknown> } | null;
  result?: Record<string, unknown> | null;
  target?: { kind: string; id: string } | null;
  [field: string]: unknown;
}

export const TERMINAL_OPERATION_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

/** Any named object the API lists. */
export interface Resource {
  id: string;
  name?: string;
  [field: string]: unknown;
}

export interface DataCenter extends Resource {
  name: string;
  description?: string;
}

export interface Cluster extends Resource {
  name: string;
  datacenter_id: string;
  description?: string;
}

/** An audit event, as listed by GET /events and streamed by GET /events/stream. */
export interface VireoEvent {
  id: string;
  kind: string;
  [field: string]: unknown;
}

export interface LoginResult {
  token: string;
  expires_at: string;
  [field: string]: unknown;
}

export interface Health {
  status: string;
  version?: string;
  database?: string;
  [field: string]: unknown;
}

/** The user a token belongs to (GET /auth/whoami or similar). */
export interface Identity {
  [field: string]: unknown;
}

/**
 * Outcome of a mutating call: either the engine finished it in the request (`done`, with the
 * object when it returned one) or it accepted it as an Operation (`accepted`, HTTP 202).
 */
export type MutationResult<T> =
  | { kind: 'done'; status: number; value: T | undefined; etag?: string }
  | { kind: 'accepted'; status: number; operation: Operation };
