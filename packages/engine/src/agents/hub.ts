import { EventEmitter } from 'node:events';
import type {
  AgentMethodName,
  AgentMethodParams,
  AgentMethodResult,
  HelloResult,
} from '@vireo/agent-protocol';
import { AgentRpcClient, AgentRpcError } from '@vireo/agent';
import type { Logger } from 'pino';
import { VireoError } from '../errors';
import type { AgentCallOptions, AgentHub, AgentHubEvents } from './types';

/** Where and how to reach one host's agent. */
export interface AgentTarget {
  hostId: string;
  address: string;
  port: number;
}

/** The engine's client identity and the CA it trusts for agents' certificates (PEM). */
export interface AgentHubTls {
  ca: string;
  cert: string;
  key: string;
}

export interface AgentHubOptions {
  tls: () => AgentHubTls;
  log: Logger;
  /** Name announced in `agent.hello`. */
  client: string;
  /** Reconnect backoff bounds (ms). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
}

interface Connection {
  target: AgentTarget;
  client?: AgentRpcClient;
  timer?: NodeJS.Timeout;
  attempt: number;
  stopped: boolean;
}

/** Unavailable (503): the host's agent cannot be reached right now. */
export class AgentUnavailable extends VireoError {
  constructor(
    code: 'host_not_connected' | 'agent_timeout',
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(503, code, message, options);
  }
}

/** An error the agent answered, kept with its own code in `details.agent_code`. */
export class AgentCallFailed extends VireoError {
  readonly agentCode: string;
  constructor(
    message: string,
    agentCode: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    // A feature the host's storage mode lacks is the caller's conflict, not a broken agent.
    // So is a host without the template seal appliance (ADR 030).
    const unavailable = agentCode === 'storage_feature_unavailable' || agentCode === 'seal_unavailable';
    super(
      unavailable ? 409 : 502,
      unavailable ? (agentCode as 'storage_feature_unavailable' | 'seal_unavailable') : 'agent_error',
      message,
      options,
    );
    this.agentCode = agentCode;
  }
}

/**
 * One mTLS WebSocket JSON-RPC connection per host (see {@link AgentHub}). The agent's certificate
 * must be signed by the engine CA and name the host's address (Node's TLS name check); the engine
 * presents its own CA-signed client certificate. A lost connection is retried with exponential
 * backoff until the host is removed with {@link AgentHubImpl.remove}.
 */
export class AgentHubImpl extends EventEmitter<AgentHubEvents> implements AgentHub {
  private readonly conns = new Map<string, Connection>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly opts: AgentHubOptions) {
    super();
    this.log = opts.log.child({ module: 'engine:agent-hub' });
  }

  /** Starts (or retargets) the connection to a host. Idempotent. */
  add(target: AgentTarget): void {
    if (this.closed) return;
    const existing = this.conns.get(target.hostId);
    if (existing && existing.target.address === target.address && existing.target.port === target.port)
      return;
    if (existing) this.remove(target.hostId);
    const conn: Connection = { target, attempt: 0, stopped: false };
    this.conns.set(target.hostId, conn);
    void this.connect(conn);
  }

  /** Closes the host's connection and stops reconnecting. */
  remove(hostId: string): void {
    const conn = this.conns.get(hostId);
    if (!conn) return;
    this.conns.delete(hostId);
    conn.stopped = true;
    if (conn.timer) clearTimeout(conn.timer);
    conn.client?.close();
  }

  /** Drops the current connection (e.g. missed heartbeats) so a fresh one is made. */
  reconnect(hostId: string): void {
    this.conns.get(hostId)?.client?.close();
  }

  isConnected(hostId: string): boolean {
    return this.conns.get(hostId)?.client !== undefined;
  }

  hello(hostId: string): HelloResult | undefined {
    return this.conns.get(hostId)?.client?.hello;
  }

  async call<M extends AgentMethodName>(
    hostId: string,
    method: M,
    params: AgentMethodParams<M>,
    options: AgentCallOptions = {},
  ): Promise<AgentMethodResult<M>> {
    const client = this.conns.get(hostId)?.client;
    if (!client) {
      throw new AgentUnavailable(
        'host_not_connected',
        `host ${hostId} is not connected; ${method} not sent`,
        {
          details: { host_id: hostId, method },
        },
      );
    }
    try {
      return await client.call(method, params, { timeoutMs: options.timeoutMs ?? 60_000 });
    } catch (err) {
      if (err instanceof AgentRpcError) {
        throw new AgentCallFailed(`${method} on host ${hostId} failed: ${err.message}`, err.code, {
          cause: err,
          details: { host_id: hostId, method, agent_code: err.code, ...(err.details ?? {}) },
        });
      }
      const timedOut = /no reply from the agent/.test((err as Error).message);
      throw new AgentUnavailable(
        timedOut ? 'agent_timeout' : 'host_not_connected',
        `${method} on host ${hostId}: ${(err as Error).message}`,
        { cause: err, details: { host_id: hostId, method } },
      );
    }
  }

  /** Closes every connection; no reconnects afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const clients = [...this.conns.values()].map((c) => c.client);
    for (const id of [...this.conns.keys()]) this.remove(id);
    await Promise.all(clients.map((c) => c?.closed()));
  }

  private async connect(conn: Connection): Promise<void> {
    const { hostId, address, port } = conn.target;
    let client: AgentRpcClient;
    try {
      const tls = this.opts.tls();
      client = await AgentRpcClient.connect({
        address: `${address.includes(':') ? `[${address}]` : address}:${port}`,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        client: this.opts.client,
        events: true,
        timeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      });
    } catch (err) {
      if (conn.stopped) return;
      this.log.debug({ hostId, address, port, error: (err as Error).message }, 'agent connection failed');
      this.emit('disconnected', hostId, (err as Error).message);
      this.schedule(conn);
      return;
    }
    if (conn.stopped) {
      client.close();
      return;
    }
    conn.client = client;
    conn.attempt = 0;
    client.on('event', (name, params) => this.emit('event', hostId, name, params));
    client.once('close', (code, reason) => {
      if (conn.client === client) conn.client = undefined;
      if (conn.stopped) return;
      this.log.info({ hostId, code, reason }, 'agent connection closed');
      this.emit('disconnected', hostId, `connection closed (${code}${reason ? `: ${reason}` : ''})`);
      this.schedule(conn);
    });
    this.log.info({ hostId, agent: client.hello.agent_version }, 'agent connected');
    this.emit('connected', hostId, client.hello);
  }

  private schedule(conn: Connection): void {
    if (conn.stopped || this.closed) return;
    const min = this.opts.backoffMinMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** Math.min(conn.attempt, 16));
    conn.attempt++;
    // Jitter keeps many hosts from reconnecting in lockstep after an engine restart.
    conn.timer = setTimeout(() => void this.connect(conn), delay * (0.75 + Math.random() * 0.5));
    conn.timer.unref();
  }
}
