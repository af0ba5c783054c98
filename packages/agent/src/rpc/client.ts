import { EventEmitter } from 'node:events';
import {
  AGENT_RPC_MAX_MESSAGE_BYTES,
  AGENT_RPC_PATH,
  type AgentMethodName,
  type AgentMethodParams,
  type AgentMethodResult,
  type HelloResult,
  type JsonRpcErrorObject,
  PROTOCOL_VERSION,
} from '@vireo/agent-protocol';
import WebSocket from 'ws';

export interface AgentRpcClientOptions {
  /** `host:port` of the agent. */
  address: string;
  /** PEM: the CA that signed the agent's certificate, and this client's certificate and key. */
  ca: string;
  cert: string;
  key: string;
  /** Name in the agent's log. */
  client?: string;
  /** Become the event receiver (engines do; local tools should not). */
  events?: boolean;
  /** Per-call default (ms). */
  timeoutMs?: number;
  /** TLS server name to verify when `address` is an IP that is not in the certificate. */
  servername?: string;
}

/** A JSON-RPC error from the agent. `code` is the agent's stable code (`vm_not_found`…). */
export class AgentRpcError extends Error {
  override readonly name = 'AgentRpcError';
  readonly code: string;
  readonly rpcCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(error: JsonRpcErrorObject) {
    super(error.message);
    this.code = error.data?.code ?? 'internal_error';
    this.rpcCode = error.code;
    this.details = error.data?.details;
  }
}

type ClientEvents = {
  /** Every notification (`vm.state`, `vm.stats`…). */
  event: [name: string, params: Record<string, unknown>];
  close: [code: number, reason: string];
};

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Client side of the agent protocol over mTLS: used by the local `vireo-agent vm …` commands,
 * tests and benchmarks. Connects, says hello, then offers typed `call()`s and emits events.
 */
export class AgentRpcClient extends EventEmitter<ClientEvents> {
  hello!: HelloResult;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  private constructor(
    private readonly ws: WebSocket,
    private readonly timeoutMs: number,
  ) {
    super();
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('close', (code, reason) => {
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`connection to the agent closed (${code}) before the reply to request ${id}`));
      }
      this.pending.clear();
      this.emit('close', code, reason.toString());
    });
  }

  static async connect(opts: AgentRpcClientOptions): Promise<AgentRpcClient> {
    const ws = new WebSocket(`wss://${opts.address}${AGENT_RPC_PATH}`, {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      minVersion: 'TLSv1.3',
      maxPayload: AGENT_RPC_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: opts.timeoutMs ?? 10_000,
      ...(opts.servername ? { servername: opts.servername } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        ws.off('error', reject);
        resolve();
      });
      ws.once('error', reject);
      // TLS 1.3 checks the client certificate after the client's side of the handshake: a refusal
      // can show up as a close right after "open", handled by the hello below.
    });
    ws.on('error', () => undefined);
    const client = new AgentRpcClient(ws, opts.timeoutMs ?? 60_000);
    try {
      client.hello = await client.call('agent.hello', {
        protocol_version: PROTOCOL_VERSION,
        client: opts.client ?? 'vireo-agent-client',
        events: opts.events ?? false,
      });
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  call<M extends AgentMethodName>(
    method: M,
    params: AgentMethodParams<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<AgentMethodResult<M>> {
    return this.callUntyped(method, params as Record<string, unknown>, options) as Promise<
      AgentMethodResult<M>
    >;
  }

  /** Any method name and params, unchecked: for tests of the server's own validation. */
  callUntyped(method: string, params: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('connection to the agent is closed'));
        return;
      }
      const timeoutMs = options.timeoutMs ?? this.timeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no reply from the agent within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Sends raw text (tests of malformed input). */
  sendRaw(text: string): void {
    this.ws.send(text);
  }

  close(): void {
    this.ws.close(1000);
  }

  /** Resolves when the connection has closed. */
  closed(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => this.ws.once('close', () => resolve()));
  }

  private onMessage(text: string): void {
    let msg: {
      id?: number | string | null;
      method?: string;
      params?: Record<string, unknown>;
      result?: unknown;
      error?: JsonRpcErrorObject;
    };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof msg.method === 'string') {
      this.emit('event', msg.method, msg.params ?? {});
      return;
    }
    if (msg.id === null || msg.id === undefined) {
      // An error the server could not attribute (our request was unreadable to it).
      if (msg.error) this.emit('event', 'rpc.error', { error: msg.error });
      return;
    }
    const pending = this.pending.get(Number(msg.id));
    if (!pending) return;
    this.pending.delete(Number(msg.id));
    clearTimeout(pending.timer);
    if (msg.error) pending.reject(new AgentRpcError(msg.error));
    else pending.resolve(msg.result);
  }
}
