import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  COMMAND_TIMEOUTS_MS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type QmpCommandName,
  type QmpCommands,
  type QmpEvent,
  type QmpGreeting,
} from './commands';
import { QmpError } from './errors';

/** QMP lines are JSON documents; a line this long means a broken or hostile peer. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_EVENT_TIMEOUT_MS = 10_000;
const SOCKET_RETRY_DELAY_MS = 20;

export interface QmpConnectOptions {
  /** Budget for connecting, the greeting and `qmp_capabilities` together (default 5 s). */
  timeoutMs?: number;
  /**
   * Retry while the socket is missing or refuses connections, within `timeoutMs`: for a QEMU that is
   * still starting (one launched without `-daemonize`).
   */
  waitForSocket?: boolean;
  /** Longest accepted line (default 16 MiB); longer is a `qmp_protocol` error. */
  maxLineBytes?: number;
  /** Logs command names and durations at debug level, never arguments. */
  logger?: Logger;
}

export interface QmpExecuteOptions {
  /** Overrides the command's default timeout. */
  timeoutMs?: number;
}

export interface QmpWaitOptions {
  /** Default 10 s. */
  timeoutMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** `execute`'s parameters after the command name: arguments are required only when the command has some. */
export type QmpExecuteParams<C extends QmpCommandName> = undefined extends QmpCommands[C]['args']
  ? [args?: QmpCommands[C]['args'], options?: QmpExecuteOptions]
  : [args: QmpCommands[C]['args'], options?: QmpExecuteOptions];

interface PendingCommand {
  command: string;
  startedAt: number;
  timer: NodeJS.Timeout;
  resolve(value: unknown): void;
  reject(error: QmpError): void;
}

interface EventWaiter {
  name: string;
  predicate: ((event: QmpEvent) => boolean) | undefined;
  resolve(event: QmpEvent): void;
  reject(error: unknown): void;
}

type QmpClientEvents = {
  /** Every asynchronous event QEMU sends. */
  event: [event: QmpEvent];
  /** The connection is gone; `error` is absent after a deliberate `close()`. */
  close: [error: QmpError | undefined];
};

/**
 * A client for one QEMU's QMP socket: handshake, typed commands matched to replies by id, events,
 * per-command timeouts. It never emits `'error'`: every failure becomes a `QmpError` on the
 * command or waiter concerned, and a closed connection is reported once through `'close'`.
 *
 * QEMU serves one QMP client per socket (a second connection gets no greeting until the first
 * leaves) and drops events while nobody is connected: re-query state after reconnecting.
 */
export class QmpClient extends EventEmitter<QmpClientEvents> {
  /** The greeting QEMU sent (its version and capabilities). */
  greeting: QmpGreeting | undefined;

  private readonly pending = new Map<string, PendingCommand>();
  private readonly waiters = new Set<EventWaiter>();
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private nextId = 1;
  private closedWith: QmpError | undefined;
  private closed = false;
  private lastSocketError: Error | undefined;
  private onGreeting: ((greeting: QmpGreeting) => void) | undefined;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
    private readonly maxLineBytes: number,
    private readonly logger: Logger | undefined,
  ) {
    super();
    let markClosed!: () => void;
    this.closedPromise = new Promise((resolve) => {
      markClosed = resolve;
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // QEMU exiting shows up as ECONNRESET: keep it as the cause of the disconnect, never rethrow it.
    socket.on('error', (error) => {
      this.lastSocketError = error;
    });
    socket.on('close', () => {
      this.shutdown(
        new QmpError(
          'qmp_disconnected',
          `QMP connection to ${socketPath} closed`,
          { socketPath },
          { cause: this.lastSocketError },
        ),
      );
      markClosed();
    });
  }

  /**
   * Connects, reads the greeting and negotiates capabilities. Throws `QmpError`:
   * `qmp_connect_failed` (no such socket / refused), `qmp_timeout`, `qmp_protocol`, `qmp_disconnected`.
   */
  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const socket = await openSocket(socketPath, deadline, options.waitForSocket ?? false);
    const client = new QmpClient(
      socket,
      socketPath,
      options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      options.logger,
    );
    try {
      await client.handshake(deadline, timeoutMs);
      return client;
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  /** True once the connection is gone (no command can succeed any more). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves when the connection has closed, for whatever reason. */
  waitClosed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Runs one typed command and resolves with its `return` value. Rejects with `qmp_command_failed`
   * (QEMU's `class`/`desc` in `details`), `qmp_timeout`, `qmp_disconnected` or `qmp_protocol`.
   * `quit` resolves even when QEMU closes the socket before its reply arrives.
   */
  execute<C extends QmpCommandName>(
    command: C,
    ...params: QmpExecuteParams<C>
  ): Promise<QmpCommands[C]['result']> {
    const [args, options] = params;
    const timeoutMs = options?.timeoutMs ?? COMMAND_TIMEOUTS_MS[command] ?? DEFAULT_COMMAND_TIMEOUT_MS;
    return this.send(command, args as Record<string, unknown> | undefined, timeoutMs) as Promise<
      QmpCommands[C]['result']
    >;
  }

  /** A command the typed map lacks. Same errors as `execute`; the result is whatever QEMU returns. */
  executeUntyped(
    command: string,
    args?: Record<string, unknown>,
    options?: QmpExecuteOptions,
  ): Promise<unknown> {
    return this.send(command, args, options?.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
  }

  /**
   * Resolves with the next event named `name` that satisfies `predicate`. The waiter is registered
   * when this is called, so call it *before* the command that triggers the event (fast block jobs
   * can finish before their command's reply). Rejects with `qmp_timeout`, `qmp_disconnected`, or
   * the signal's reason. Safe to leave un-awaited: a rejection never becomes an unhandled one.
   */
  waitForEvent(
    name: string,
    predicate?: (event: QmpEvent) => boolean,
    options: QmpWaitOptions = {},
  ): Promise<QmpEvent> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS;
    const promise = new Promise<QmpEvent>((resolve, reject) => {
      if (this.closed) {
        reject(this.disconnectedError({ event: name }));
        return;
      }
      if (options.signal?.aborted) {
        reject(options.signal.reason);
        return;
      }
      const cleanup = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
      };
      const waiter: EventWaiter = {
        name,
        predicate,
        resolve: (event) => {
          cleanup();
          resolve(event);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiter.reject(
          new QmpError('qmp_timeout', `no ${name} event within ${timeoutMs} ms`, {
            event: name,
            timeoutMs,
            socketPath: this.socketPath,
          }),
        );
      }, timeoutMs);
      const onAbort = () => waiter.reject(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
    promise.catch(() => {});
    return promise;
  }

  /** Closes the connection; pending commands and waiters reject with `qmp_disconnected`. */
  async close(): Promise<void> {
    this.shutdown(undefined);
    this.socket.destroy();
    await this.closedPromise;
  }

  private destroy(): void {
    this.socket.destroy();
  }

  private async handshake(deadline: number, timeoutMs: number): Promise<void> {
    const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.off('close', onClose);
        this.onGreeting = undefined;
      };
      const onClose = (error: QmpError | undefined) => {
        settle();
        reject(error ?? this.disconnectedError({}));
      };
      const timer = setTimeout(
        () => {
          settle();
          reject(
            new QmpError(
              'qmp_timeout',
              `no QMP greeting on ${this.socketPath} within ${timeoutMs} ms (is another client connected?)`,
              { socketPath: this.socketPath, timeoutMs },
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      this.onGreeting = (g) => {
        settle();
        resolve(g);
      };
      this.on('close', onClose);
    });
    this.greeting = greeting;
    await this.send('qmp_capabilities', undefined, Math.max(1, deadline - Date.now()));
  }

  private send(
    command: string,
    args: Record<string, unknown> | undefined,
    timeoutMs: number,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(this.disconnectedError({ command }));
    const id = `vireo-${this.nextId++}`;
    const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new QmpError('qmp_timeout', `QMP command ${command} got no reply within ${timeoutMs} ms`, {
            command,
            timeoutMs,
            socketPath: this.socketPath,
          }),
        );
      }, timeoutMs);
      this.pending.set(id, { command, startedAt: Date.now(), timer, resolve, reject });
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    while (!this.closed) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      if (end > start) {
        this.partialBytes += end - start;
        if (this.partialBytes > this.maxLineBytes) {
          this.protocolFailure(`QMP line longer than ${this.maxLineBytes} bytes`);
          return;
        }
        this.partial.push(chunk.subarray(start, end));
      }
      if (newline === -1) return;
      const line = Buffer.concat(this.partial).toString('utf8').trim();
      this.partial = [];
      this.partialBytes = 0;
      start = newline + 1;
      if (line !== '') this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.protocolFailure('QMP peer sent a line that is not JSON', error);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.protocolFailure('QMP peer sent a JSON value that is not an object');
      return;
    }
    const msg = message as Record<string, unknown>;
    if ('QMP' in msg) this.handleGreeting(msg as unknown as QmpGreeting);
    else if (typeof msg.event === 'string') this.handleEvent(msg as unknown as QmpEvent);
    else if ('return' in msg || 'error' in msg) this.handleReply(msg);
    else this.logger?.warn({ keys: Object.keys(msg) }, 'ignoring unrecognised QMP message');
  }

  private handleGreeting(greeting: QmpGreeting): void {
    const version = greeting.QMP?.version?.qemu;
    if (!this.onGreeting || typeof version?.major !== 'number') {
      this.protocolFailure('unexpected or malformed QMP greeting');
      return;
    }
    const deliver = this.onGreeting;
    this.onGreeting = undefined;
    deliver(greeting);
  }

  private handleEvent(event: QmpEvent): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.name !== event.event) continue;
      let matches = true;
      try {
        matches = waiter.predicate ? waiter.predicate(event) : true;
      } catch (error) {
        waiter.reject(error);
        continue;
      }
      if (matches) waiter.resolve(event);
    }
    try {
      this.emit('event', event);
    } catch (error) {
      // A listener's bug must not tear down the connection every other caller depends on.
      this.logger?.error({ err: error, event: event.event }, 'QMP event listener threw');
    }
  }

  private handleReply(msg: Record<string, unknown>): void {
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!pending || id === undefined) {
      // A reply to a command that already timed out, or one QEMU could not attribute.
      this.logger?.warn({ id: msg.id }, 'QMP reply matches no pending command');
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    this.logger?.debug({ command: pending.command, ms: Date.now() - pending.startedAt }, 'QMP command done');
    if ('error' in msg) {
      const error = (msg.error ?? {}) as { class?: unknown; desc?: unknown };
      const klass = typeof error.class === 'string' ? error.class : 'GenericError';
      const desc = typeof error.desc === 'string' ? error.desc : 'unknown error';
      pending.reject(
        new QmpError('qmp_command_failed', `QMP command ${pending.command} failed: ${desc}`, {
          command: pending.command,
          class: klass,
          desc,
        }),
      );
      return;
    }
    pending.resolve(msg.return);
  }

  private protocolFailure(message: string, cause?: unknown): void {
    const error = new QmpError('qmp_protocol', message, { socketPath: this.socketPath }, { cause });
    this.logger?.warn({ err: error }, 'closing QMP connection after a protocol error');
    this.shutdown(error, error);
    this.socket.destroy();
  }

  /**
   * Rejects everything in flight and marks the client closed. `reason` is what `'close'` reports
   * (undefined for a deliberate close); `rejectWith` overrides what pending work rejects with.
   */
  private shutdown(reason: QmpError | undefined, rejectWith?: QmpError): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = reason;
    const failure = rejectWith ?? this.disconnectedError({});
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      // The goal of `quit` is a closed connection: that is success, not a failure.
      if (pending.command === 'quit' && rejectWith === undefined) pending.resolve({});
      else pending.reject(withCommand(failure, pending.command));
    }
    for (const waiter of [...this.waiters]) waiter.reject(withEvent(failure, waiter.name));
    this.emit('close', reason);
  }

  private disconnectedError(details: { command?: string; event?: string }): QmpError {
    const what = details.command
      ? `QMP command ${details.command}`
      : details.event
        ? `wait for ${details.event}`
        : 'QMP';
    return new QmpError(
      'qmp_disconnected',
      `${what}: connection to ${this.socketPath} is closed`,
      { ...details, socketPath: this.socketPath },
      { cause: this.closedWith ?? this.lastSocketError },
    );
  }
}

function withCommand(error: QmpError, command: string): QmpError {
  return new QmpError(
    error.code,
    `QMP command ${command}: ${error.message}`,
    { ...error.details, command },
    {
      cause: error.cause ?? error,
    },
  );
}

function withEvent(error: QmpError, event: string): QmpError {
  return new QmpError(
    error.code,
    `wait for ${event}: ${error.message}`,
    { ...error.details, event },
    {
      cause: error.cause ?? error,
    },
  );
}

async function openSocket(path: string, deadline: number, waitForSocket: boolean): Promise<Socket> {
  for (;;) {
    try {
      return await connectOnce(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const retriable = code === 'ENOENT' || code === 'ECONNREFUSED';
      if (waitForSocket && retriable && Date.now() + SOCKET_RETRY_DELAY_MS < deadline) {
        await new Promise((resolve) => setTimeout(resolve, SOCKET_RETRY_DELAY_MS));
        continue;
      }
      throw new QmpError(
        'qmp_connect_failed',
        `cannot connect to QMP socket ${path}: ${code ?? error}`,
        {
          socketPath: path,
        },
        { cause: error },
      );
    }
  }
}

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const onError = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
