import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import {
  AGENT_CLOSE_CODES,
  AGENT_RPC_MAX_MESSAGE_BYTES,
  AGENT_RPC_PATH,
  type AgentEventName,
  type AgentEventParams,
  type HelloResult,
} from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { type ConnectionHost, RpcConnection } from './connection';
import type { MethodHandlers } from './handlers';

export interface AgentRpcServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** PEM. `ca` is the only issuer whose client certificates are accepted. */
  tls: { ca: string; cert: string; key: string };
  handlers: MethodHandlers;
  hello: Omit<HelloResult, 'events' | 'protocol_version'>;
  log: Logger;
  /** Concurrent requests per connection (default 128: an engine stopping every VM of a host at once). */
  maxInFlight?: number;
  /** WebSocket ping interval; a peer that misses a pong is dropped (default 30 s). */
  pingIntervalMs?: number;
  /** Other WebSocket endpoints (the console): returns true when it took the upgrade request. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
  /** Other HTTP endpoints (image transfer data): returns true when it took the request. */
  request?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * The agent's RPC endpoint: HTTPS with TLS 1.3 only, a client certificate signed by the configured
 * CA required at the handshake (no certificate, or one from another CA, never reaches HTTP), and a
 * WebSocket at `/rpc/v1` carrying JSON-RPC 2.0.
 *
 * Events go to one connection only, the event receiver: the newest one that asked for events in
 * its `agent.hello`. An older receiver is told (`agent.events_revoked`) and keeps working for
 * calls. That way an engine that reconnects (or fails over) takes the stream without waiting for
 * the dead connection to time out, and local tools, which never ask, never steal it.
 */
export class AgentRpcServer implements ConnectionHost {
  readonly handlers: MethodHandlers;
  readonly maxInFlight: number;
  private readonly https: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<RpcConnection>();
  /** Whether each socket answered the last ping. */
  private readonly alive = new Map<WebSocket, boolean>();
  private receiver: RpcConnection | null = null;
  private nextId = 1;
  private pingTimer: NodeJS.Timeout | undefined;

  /**
   * Swaps the TLS key, certificate and CA (certificate renewal). Only new handshakes use them: open
   * connections, and the engine's calls on them, carry on undisturbed.
   */
  setTls(tls: { ca: string; cert: string; key: string }): void {
    this.https.setSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.3' });
  }

  constructor(private readonly opts: AgentRpcServerOptions) {
    this.handlers = opts.handlers;
    this.maxInFlight = opts.maxInFlight ?? 128;
    this.https = createServer(
      {
        ca: opts.tls.ca,
        cert: opts.tls.cert,
        key: opts.tls.key,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      (req, res) => {
        if (req.method === 'GET' && req.url === '/health') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
          return;
        }
        if (opts.request?.(req, res)) return;
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      },
    );
    this.https.on('tlsClientError', (err) => opts.log.info({ err: err.message }, 'TLS handshake refused'));
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: AGENT_RPC_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
    });
    this.https.on('upgrade', (req, socket, head) => {
      if (req.url !== AGENT_RPC_PATH) {
        if (opts.upgrade?.(req, socket, head)) return;
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const cert = (req.socket as TLSSocket).getPeerCertificate();
        const peer = typeof cert?.subject?.CN === 'string' ? cert.subject.CN : 'unknown';
        const id = this.nextId++;
        const log = opts.log.child({ conn: id, peer });
        const conn = new RpcConnection(id, peer, ws, this, log);
        this.connections.add(conn);
        this.alive.set(ws, true);
        ws.on('pong', () => this.alive.set(ws, true));
        ws.on('error', (err) => log.info({ err: err.message }, 'connection error'));
        ws.on('close', () => {
          this.alive.delete(ws);
          this.connections.delete(conn);
          if (this.receiver === conn) this.receiver = null;
          log.info('connection closed');
        });
        log.info('connection opened');
      });
    });
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.https.once('error', reject);
      this.https.listen(this.opts.port, this.opts.host, () => {
        this.https.off('error', reject);
        resolve();
      });
    });
    const interval = this.opts.pingIntervalMs ?? 30_000;
    this.pingTimer = setInterval(() => this.pingAll(), interval);
    this.pingTimer.unref();
    return this.https.address() as AddressInfo;
  }

  /** Whether some connection receives events now (stats sampling is skipped when none does). */
  get hasEventReceiver(): boolean {
    return this.receiver !== null;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Sends an event to the receiver, if any. Events are not queued for a missing receiver. */
  emit = <E extends AgentEventName>(event: E, params: AgentEventParams<E>): void => {
    this.receiver?.notify(event, params);
  };

  takeEvents(conn: RpcConnection): void {
    const previous = this.receiver;
    this.receiver = conn;
    if (previous && previous !== conn) {
      previous.notify('agent.events_revoked', {
        reason: `connection ${conn.id} (${conn.peer}) took over the events`,
      });
    }
  }

  isReceiver(conn: RpcConnection): boolean {
    return this.receiver === conn;
  }

  helloInfo(): Omit<HelloResult, 'events' | 'protocol_version'> {
    return this.opts.hello;
  }

  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    for (const conn of this.connections) conn.close(AGENT_CLOSE_CODES.goingAway, 'agent shutting down');
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    const closed = new Promise<void>((resolve) => this.https.close(() => resolve()));
    this.https.closeAllConnections();
    await closed;
  }

  private pingAll(): void {
    for (const [ws, alive] of this.alive) {
      if (!alive) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }
}
