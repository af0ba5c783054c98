import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/**
 * `agent.hello`: the first call on every connection. Nothing else is answered before it (error
 * `hello_required`), so both sides always know each other's protocol version and capabilities.
 */
export const HelloParamsSchema = Type.Object(
  {
    protocol_version: Type.String({ pattern: '^\\d{1,4}\\.\\d{1,4}$' }),
    /** Who is calling, for the agent's log (`vireo-engine 0.3.1`, `vireo-agent-cli`). */
    client: Type.String({ minLength: 1, maxLength: 128 }),
    /**
     * Ask to become the event receiver. Only one connection receives events at a time: a newer
     * connection that asks replaces the older one, which gets `agent.events_revoked` and keeps
     * working for calls. Local tools leave this off so they never steal the engine's events.
     */
    events: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type HelloParams = Static<typeof HelloParamsSchema>;

export const HelloResultSchema = Type.Object(
  {
    protocol_version: Type.String(),
    agent_version: Type.String(),
    /** Stable id of this agent's state directory (generated once, kept across restarts). */
    agent_id: Type.String(),
    hostname: Type.String(),
    capabilities: Type.Array(Type.String()),
    /** Whether this connection is now the event receiver. */
    events: Type.Boolean(),
  },
  strict,
);
export type HelloResult = Static<typeof HelloResultSchema>;
