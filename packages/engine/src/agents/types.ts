import type {
  AgentMethodName,
  AgentMethodParams,
  AgentMethodResult,
  HelloResult,
} from '@vireo/agent-protocol';

/** Options of one call through the hub. */
export interface AgentCallOptions {
  /** Reply deadline; the call rejects with `agent_timeout` after it. Default 60 s. */
  timeoutMs?: number;
}

/** What the hub emits. Listeners must not throw. */
export interface AgentHubEvents {
  /** An agent notification (`vm.state`, `vm.stats`, `host.stats`…) from a connected host. */
  event: [hostId: string, name: string, params: Record<string, unknown>];
  /** A connection to the host's agent is open and `agent.hello` succeeded. */
  connected: [hostId: string, hello: HelloResult];
  /** The connection closed (or failed); the hub reconnects with backoff while the host is known. */
  disconnected: [hostId: string, reason: string];
}

/**
 * The engine's connections to its agents: one mutually authenticated TLS WebSocket (JSON-RPC 2.0)
 * per host, reconnected with backoff while the host is registered. Controllers and services call
 * agents only through this.
 *
 * Errors: `call()` rejects with an `EngineError`-family error coded `host_not_connected` when the host
 * has no open connection, `agent_timeout` when no reply comes in time, or the agent's own stable
 * code (e.g. `vm_not_found`) wrapped with the method name as context.
 */
export interface AgentHub {
  /** Sends one request to the host's agent and resolves with its typed result. */
  call<M extends AgentMethodName>(
    hostId: string,
    method: M,
    params: AgentMethodParams<M>,
    options?: AgentCallOptions,
  ): Promise<AgentMethodResult<M>>;
  /** Whether the host's agent is connected right now (hello done). */
  isConnected(hostId: string): boolean;
  /** The hello of the current connection, or undefined when not connected. */
  hello(hostId: string): HelloResult | undefined;
  on<E extends keyof AgentHubEvents>(event: E, listener: (...args: AgentHubEvents[E]) => void): this;
  off<E extends keyof AgentHubEvents>(event: E, listener: (...args: AgentHubEvents[E]) => void): this;
}
