/**
 * TEST SUPPORT ONLY: a scripted fake QMP server on a unix socket, to exercise `QmpClient` against
 * behaviour real QEMU shows rarely or never on demand (slow replies, events between replies,
 * garbage, abrupt disconnects). Nothing in the agent's runtime may use it; tests that claim to
 * exercise QEMU use the real binary.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

export interface FakeEvent {
  event: string;
  data?: Record<string, unknown>;
}

/** How the fake answers one command. */
export type FakeReply = (
  | { return: unknown }
  | { error: { class: string; desc: string } }
  /** Never answer (the client's timeout fires). */
  | { noReply: true }
  /** Close the connection abruptly instead of answering. */
  | { disconnect: true }
  /** Write this text verbatim instead of a reply (garbage, partial lines…). */
  | { raw: string }
) & {
  /** Wait this long before doing anything. */
  delayMs?: number;
  /** Events sent just before the reply. */
  eventsBefore?: FakeEvent[];
  /** Events sent just after the reply. */
  eventsAfter?: FakeEvent[];
};

export type FakeHandler = (
  args: Record<string, unknown> | undefined,
  command: string,
) => FakeReply | Promise<FakeReply>;

export interface FakeQmpServerOptions {
  socketPath: string;
  /** `false`: never greet (the client's connect times out); a string: send it verbatim. */
  greeting?: false | string;
  handlers?: Record<string, FakeHandler | FakeReply>;
}

const DEFAULT_GREETING = JSON.stringify({
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] },
});

/** A fake QMP endpoint. Every command it receives is recorded in `received`. */
export class FakeQmpServer {
  readonly received: { command: string; args: Record<string, unknown> | undefined }[] = [];
  private readonly handlers = new Map<string, FakeHandler | FakeReply>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
    private readonly options: FakeQmpServerOptions,
  ) {
    for (const [command, handler] of Object.entries(options.handlers ?? {}))
      this.handlers.set(command, handler);
  }

  static async start(options: FakeQmpServerOptions): Promise<FakeQmpServer> {
    const server = createServer();
    const fake = new FakeQmpServer(server, options.socketPath, options);
    server.on('connection', (socket) => fake.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.socketPath, () => resolve());
    });
    return fake;
  }

  /** Scripts (or re-scripts) the answer to `command`. */
  on(command: string, handler: FakeHandler | FakeReply): this {
    this.handlers.set(command, handler);
    return this;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Sends an event to every connected client. */
  sendEvent(event: string, data?: Record<string, unknown>): void {
    this.broadcast(`${eventLine({ event, data })}\n`);
  }

  /** Writes raw text to every connected client (may be partial lines). */
  sendRaw(text: string | Buffer): void {
    for (const socket of this.sockets) socket.write(text);
  }

  /** Drops every connection abruptly, like QEMU exiting. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    if (this.options.greeting !== false) socket.write(`${this.options.greeting ?? DEFAULT_GREETING}\n`);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) void this.handle(socket, line);
        newline = buffered.indexOf('\n');
      }
    });
  }

  private async handle(socket: Socket, line: string): Promise<void> {
    const request = JSON.parse(line) as {
      execute: string;
      arguments?: Record<string, unknown>;
      id?: unknown;
    };
    this.received.push({ command: request.execute, args: request.arguments });
    const handler = this.handlers.get(request.execute) ?? defaultHandler(request.execute);
    const reply = typeof handler === 'function' ? await handler(request.arguments, request.execute) : handler;
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (socket.destroyed) return;
    let text = '';
    for (const event of reply.eventsBefore ?? []) text += `${eventLine(event)}\n`;
    if ('disconnect' in reply) {
      socket.end(text);
      socket.destroySoon();
      return;
    }
    if ('noReply' in reply) {
      socket.write(text);
      return;
    }
    if ('raw' in reply) text += reply.raw;
    else if ('error' in reply) text += `${JSON.stringify({ error: reply.error, id: request.id })}\n`;
    else text += `${JSON.stringify({ return: reply.return, id: request.id })}\n`;
    for (const event of reply.eventsAfter ?? []) text += `${eventLine(event)}\n`;
    socket.write(text);
  }

  private broadcast(text: string): void {
    for (const socket of this.sockets) socket.write(text);
  }
}

function defaultHandler(command: string): FakeReply {
  if (command === 'qmp_capabilities') return { return: {} };
  return { error: { class: 'CommandNotFound', desc: `The command ${command} has not been found` } };
}

function eventLine(event: FakeEvent): string {
  const now = Date.now();
  return JSON.stringify({
    event: event.event,
    ...(event.data ? { data: event.data } : {}),
    timestamp: { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 },
  });
}
