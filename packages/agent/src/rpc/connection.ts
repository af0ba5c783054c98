import {
  AGENT_CLOSE_CODES,
  type AgentErrorCode,
  type AgentMethodName,
  AgentMethods,
  HelloParamsSchema,
  type HelloResult,
  isAgentMethodName,
  isCompatibleProtocol,
  type JsonRpcFailure,
  type JsonRpcId,
  JsonRpcRequestSchema,
  jsonRpcNumberFor,
  PROTOCOL_VERSION,
} from '@vireo/agent-protocol';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { AgentError, toAgentError } from '../util/errors';
import type { CallContext, MethodHandlers } from './handlers';

const requestCheck = TypeCompiler.Compile(JsonRpcRequestSchema);
const paramChecks = new Map<string, TypeCheck<TSchema>>(
  Object.entries(AgentMethods).map(([name, m]) => [name, TypeCompiler.Compile(m.params)]),
);
const helloCheck = TypeCompiler.Compile(HelloParamsSchema);

/** What a connection needs from its server. */
export interface ConnectionHost {
  handlers: MethodHandlers;
  helloInfo(): Omit<HelloResult, 'events' | 'protocol_version'>;
  /** Makes `conn` the event receiver (revoking the previous one). */
  takeEvents(conn: RpcConnection): void;
  isReceiver(conn: RpcConnection): boolean;
  maxInFlight: number;
}

/**
 * One authenticated engine (or local tool) connection: JSON-RPC 2.0 requests in, responses and
 * events out. Requests run concurrently up to `maxInFlight`; more get `too_many_requests` at once
 * rather than queueing without bound. Nothing but `agent.hello` is answered before the hello.
 */
export class RpcConnection {
  private helloDone = false;
  private inFlight = 0;

  constructor(
    readonly id: number,
    readonly peer: string,
    private readonly ws: WebSocket,
    private readonly host: ConnectionHost,
    private readonly log: Logger,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  /** Sends a JSON-RPC notification (an event). */
  notify(method: string, params: unknown): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  private send(message: unknown): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(message));
  }

  private fail(id: JsonRpcId | null, error: AgentError): void {
    const response: JsonRpcFailure = {
      jsonrpc: '2.0',
      id,
      error: {
        code: jsonRpcNumberFor(error.code),
        message: error.message,
        data: { code: error.code, ...(error.details ? { details: error.details } : {}) },
      },
    };
    this.send(response);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.close(AGENT_CLOSE_CODES.protocolViolation, 'binary frames are not JSON-RPC');
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      this.fail(null, new AgentError('parse_error', 'message is not valid JSON'));
      return;
    }
    if (Array.isArray(message)) {
      this.fail(null, new AgentError('invalid_request', 'JSON-RPC batches are not supported'));
      return;
    }
    if (!requestCheck.Check(message)) {
      const id = idOf(message);
      const first = requestCheck.Errors(message).First();
      this.fail(
        id,
        new AgentError(
          'invalid_request',
          `not a JSON-RPC 2.0 request: ${first?.path || '/'} ${first?.message ?? ''}`.trim(),
        ),
      );
      return;
    }
    const { id, method } = message;
    const params = message.params ?? {};
    if (this.inFlight >= this.host.maxInFlight) {
      this.fail(
        id,
        new AgentError(
          'too_many_requests',
          `more than ${this.host.maxInFlight} requests in flight on this connection`,
        ),
      );
      return;
    }
    this.inFlight++;
    void this.dispatch(id, method, params).finally(() => {
      this.inFlight--;
    });
  }

  private async dispatch(id: JsonRpcId, method: string, params: Record<string, unknown>): Promise<void> {
    const started = Date.now();
    try {
      const result = await this.call(method, params);
      this.send({ jsonrpc: '2.0', id, result });
      this.log.debug({ method, ms: Date.now() - started }, 'rpc done');
    } catch (err) {
      const error = toAgentError(err);
      const level = error.code === 'internal_error' ? 'error' : 'info';
      this.log[level](
        { method, code: error.code, err: level === 'error' ? err : undefined, reason: error.message },
        'rpc failed',
      );
      this.fail(id, error);
    }
  }

  private async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (method === 'agent.hello') return this.hello(params);
    if (!this.helloDone) throw new AgentError('hello_required', 'call agent.hello first');
    if (!isAgentMethodName(method)) {
      throw new AgentError('method_not_found', `no method ${method}`, { details: { method } });
    }
    const handler = this.host.handlers[method as Exclude<AgentMethodName, 'agent.hello'>];
    if (!handler) throw new AgentError('method_not_found', `method ${method} is not available on this agent`);
    checkParams(method, params);
    const ctx: CallContext = { connectionId: this.id, peer: this.peer, log: this.log };
    return (handler as (p: unknown, c: CallContext) => unknown)(params, ctx);
  }

  private hello(params: Record<string, unknown>): HelloResult {
    if (!helloCheck.Check(params)) {
      const first = helloCheck.Errors(params).First();
      throw new AgentError(
        'invalid_params',
        `agent.hello ${first?.path ?? ''}: ${first?.message ?? 'invalid'}`,
        {
          details: { path: first?.path ?? '/' },
        },
      );
    }
    if (!isCompatibleProtocol(PROTOCOL_VERSION, params.protocol_version)) {
      throw new AgentError(
        'protocol_mismatch',
        `protocol ${params.protocol_version} is not compatible with this agent's ${PROTOCOL_VERSION}`,
        { details: { agent: PROTOCOL_VERSION, client: params.protocol_version } },
      );
    }
    this.helloDone = true;
    if (params.events) this.host.takeEvents(this);
    this.log.info({ client: params.client, events: params.events === true }, 'hello');
    return {
      protocol_version: PROTOCOL_VERSION,
      ...this.host.helloInfo(),
      events: this.host.isReceiver(this),
    };
  }
}

function checkParams(method: string, params: unknown): void {
  const check = paramChecks.get(method);
  if (!check || check.Check(params)) return;
  const first = check.Errors(params).First();
  const path = first?.path || '/';
  // A bad VM spec is the caller's most common mistake: give it its own code and a spec-relative path.
  const specPath = /^\/(spec|disk)(\/|$)/.test(path) ? path.replace(/^\/spec/, '') || '/' : undefined;
  const code: AgentErrorCode = specPath !== undefined ? 'invalid_vm_spec' : 'invalid_params';
  throw new AgentError(code, `${method} params ${path}: ${first?.message ?? 'invalid'}`, {
    details: { path: specPath ?? path },
  });
}

function idOf(message: unknown): JsonRpcId | null {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id)) ? id : null;
}
