import { EventEmitter } from 'node:events';
import type { AgentHub, AgentHubEvents } from '../../src/agents/types';

/** One recorded call. */
export interface HubCall {
  hostId: string;
  method: string;
  params: Record<string, unknown>;
}

/** An error the way the hub reports an agent's coded failure. */
export class FakeAgentError extends Error {
  constructor(readonly agentCode: string) {
    super(`agent answered ${agentCode}`);
  }
}

type Handler = (hostId: string, params: Record<string, unknown>) => unknown;

/**
 * A recorded fake of the agent hub, for controller and monitor tests only (the e2e test uses real
 * agents). Answers come from per-method handlers the test sets; every call is recorded in order.
 */
export class FakeHub extends EventEmitter<AgentHubEvents> {
  readonly calls: HubCall[] = [];
  readonly connected = new Set<string>();
  handlers = new Map<string, Handler>();

  asHub(): AgentHub {
    return this as unknown as AgentHub;
  }

  isConnected(hostId: string): boolean {
    return this.connected.has(hostId);
  }

  hello(): undefined {
    return undefined;
  }

  async call(hostId: string, method: string, params: Record<string, unknown>): Promise<unknown> {
    this.calls.push({ hostId, method, params });
    const h = this.handlers.get(method);
    if (!h) throw new Error(`fake hub: no answer set for ${method}`);
    return h(hostId, params);
  }

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}

export function vmInfo(id: string, state: string, reason: string) {
  return { id, name: null, state, reason, pid: null, started_at: null, vnc: null, serial: null };
}
