import { type Static, Type } from '@sinclair/typebox';
import { AgentErrorDataSchema } from './errors';

/**
 * JSON-RPC 2.0 envelopes as the agent uses them. Requests always carry an id (the agent does not
 * accept notifications from the engine: every call deserves an answer); notifications flow only
 * from the agent to the engine and are the events.
 */

export const JsonRpcIdSchema = Type.Union([
  Type.String({ minLength: 1, maxLength: 128 }),
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
]);
export type JsonRpcId = Static<typeof JsonRpcIdSchema>;

export const JsonRpcRequestSchema = Type.Object(
  {
    jsonrpc: Type.Literal('2.0'),
    id: JsonRpcIdSchema,
    method: Type.String({ minLength: 1, maxLength: 64 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type JsonRpcRequest = Static<typeof JsonRpcRequestSchema>;

export const JsonRpcErrorObjectSchema = Type.Object(
  {
    code: Type.Integer(),
    message: Type.String(),
    data: Type.Optional(AgentErrorDataSchema),
  },
  { additionalProperties: false },
);
export type JsonRpcErrorObject = Static<typeof JsonRpcErrorObjectSchema>;

export const JsonRpcSuccessSchema = Type.Object(
  { jsonrpc: Type.Literal('2.0'), id: JsonRpcIdSchema, result: Type.Unknown() },
  { additionalProperties: false },
);
export type JsonRpcSuccess = Static<typeof JsonRpcSuccessSchema>;

/** `id` is `null` only when the request was too broken to read its id (parse errors). */
export const JsonRpcFailureSchema = Type.Object(
  {
    jsonrpc: Type.Literal('2.0'),
    id: Type.Union([JsonRpcIdSchema, Type.Null()]),
    error: JsonRpcErrorObjectSchema,
  },
  { additionalProperties: false },
);
export type JsonRpcFailure = Static<typeof JsonRpcFailureSchema>;

export const JsonRpcNotificationSchema = Type.Object(
  {
    jsonrpc: Type.Literal('2.0'),
    method: Type.String({ minLength: 1 }),
    params: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type JsonRpcNotification = Static<typeof JsonRpcNotificationSchema>;

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;

/** WebSocket path of the agent's RPC endpoint. */
export const AGENT_RPC_PATH = '/rpc/v1';

/** Largest WebSocket message either side accepts (a VM spec with 64 disks fits many times). */
export const AGENT_RPC_MAX_MESSAGE_BYTES = 1024 * 1024;

/** WebSocket close codes the agent uses (4000–4999 is the application range). */
export const AGENT_CLOSE_CODES = {
  /** The agent is shutting down. */
  goingAway: 1001,
  /** A message was not JSON-RPC at all (binary frame, over-size). */
  protocolViolation: 4400,
} as const;
