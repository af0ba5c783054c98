import type {
  Cluster as ApiCluster,
  DataCenter as ApiDataCenter,
  Event as ApiEvent,
  Operation as ApiOperation,
  OperationProgressFrame as ApiOperationProgressFrame,
  OperationState as ApiOperationState,
  HealthReport,
  Host as ApiHost,
  JoinTokenCreated as ApiJoinTokenCreated,
  Vm as ApiVm,
  VmConsoleTicket as ApiVmConsoleTicket,
  LoginResponse,
  Whoami,
} from '@vireo/api';

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
  [filter: string]: string | number | boolean | readonly string[] | undefined;
}

export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export type OperationState = ApiOperationState;

/** Long-running work (design.md "Operation"; schema in `@vireo/api`). */
export type Operation = ApiOperation;

/** Data of an ephemeral `operation.progress` stream frame (no event id; never replayed). */
export type OperationProgressFrame = ApiOperationProgressFrame;

export const TERMINAL_OPERATION_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

/** Any named object the API lists. */
export interface Resource {
  id: string;
  name?: string;
  [field: string]: unknown;
}

/** A data center as the engine returns it (schema in `@vireo/api`). */
export type DataCenter = ApiDataCenter;
/** A cluster as the engine returns it (schema in `@vireo/api`). */
export type Cluster = ApiCluster;

/** A virtual machine as the engine returns it (schema in `@vireo/api`). */
export type Vm = ApiVm;
/** A host (machine running vireo-agent) as the engine returns it. */
export type Host = ApiHost;
/** `POST /hosts/join-tokens` answer; the token is shown once. */
export type JoinToken = ApiJoinTokenCreated;
/** `POST /vms/{id}/console` answer: a one-time ticket and the WebSocket path to use it on. */
export type ConsoleTicket = ApiVmConsoleTicket;

/** An audit event, as listed by GET /events and streamed by GET /events/stream. */
export type VireoEvent = ApiEvent;

export type LoginResult = LoginResponse;
export type Health = HealthReport;
/** `GET /auth/whoami`. */
export type Identity = Whoami;

/**
 * Outcome of a mutating call: either the engine finished it in the request (`done`, with the
 * object when it returned one) or it accepted it as an Operation (`accepted`, HTTP 202).
 */
export type MutationResult<T> =
  | { kind: 'done'; status: number; value: T | undefined; etag?: string }
  | { kind: 'accepted'; status: number; operation: Operation };
