import type { AgentMethodName, AgentMethodParams, AgentMethodResult } from '@vireo/agent-protocol';
import type { Logger } from 'pino';

/** Who is calling: the authenticated peer of one connection. */
export interface CallContext {
  connectionId: number;
  /** Subject CN of the client certificate. */
  peer: string;
  log: Logger;
}

export type MethodHandler<M extends AgentMethodName> = (
  params: AgentMethodParams<M>,
  ctx: CallContext,
) => Promise<AgentMethodResult<M>> | AgentMethodResult<M>;

/** Implementations of the methods (`agent.hello` is the server's own). Missing ones answer `method_not_found`. */
export type MethodHandlers = { [M in Exclude<AgentMethodName, 'agent.hello'>]?: MethodHandler<M> };
