import pg from 'pg';
import type { Logger } from 'pino';

type Handler = (payload: string) => void;

export interface PgListenerOptions {
  /** The engine's pool: the listener opens one extra connection with the same settings. */
  pool: pg.Pool;
  log: Logger;
  /** First reconnect delay; doubles up to 5 s. */
  retryMs?: number;
}

/**
 * One dedicated PostgreSQL connection doing LISTEN for the whole engine, fanning notifications out
 * in process. A pooled connection cannot LISTEN (it goes back to the pool), and one connection per
 * waiter would exhaust the server. Notifications sent while the connection is down are lost, so
 * consumers register `onReconnect` and re-read what they care about.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private connecting: Promise<void> | undefined;

  constructor(private readonly opts: PgListenerOptions) {
    this.log = opts.log.child({ module: 'engine:pg-listener' });
  }

  /** Connects and listens; resolves once listening (rejects if the first connection fails). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => {});
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /** Calls `handler` with each notification's payload on `channel`; returns the unsubscribe. */
  on(channel: string, handler: Handler): () => void {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name ${channel}`);
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      this.client
        ?.query(`LISTEN ${channel}`)
        .catch((err) => this.log.warn({ err, channel }, 'LISTEN failed'));
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Called after the connection came back: notifications may have been missed meanwhile. */
  onReconnect(handler: () => void): () => void {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  private connect(): Promise<void> {
    this.connecting = this.doConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const options = this.opts.pool.options;
    // pg keeps the password as a non-enumerable property, so a spread would drop it.
    const client = new pg.Client({ ...options, password: options.password, keepAlive: true });
    client.on('notification', (msg) => this.dispatch(msg.channel, msg.payload ?? ''));
    client.on('error', (err) => {
      this.log.warn({ err }, 'notification connection failed');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    await client.connect();
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    // Published before LISTENing so a channel added by on() meanwhile is listened to as well
    // (LISTEN twice is harmless).
    this.client = client;
    try {
      for (const channel of [...this.handlers.keys()]) await client.query(`LISTEN ${channel}`);
    } catch (err) {
      this.client = undefined;
      await client.end().catch(() => {});
      throw err;
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.scheduleReconnect(this.opts.retryMs ?? 100);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(async () => {
      try {
        await this.connect();
        this.log.info('notification connection restored');
        for (const h of this.reconnectHandlers) h();
      } catch (err) {
        this.log.warn({ err }, 'notification connection retry failed');
        this.scheduleReconnect(Math.min(5000, delayMs * 2));
      }
    }, delayMs);
  }

  private dispatch(channel: string, payload: string): void {
    for (const h of this.handlers.get(channel) ?? []) {
      try {
        h(payload);
      } catch (err) {
        this.log.error({ err, channel }, 'notification handler failed');
      }
    }
  }
}
