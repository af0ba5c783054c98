import type { ServerResponse } from 'node:http';

/** How one live stats stream behaves. */
export interface StatsStreamOptions {
  /** Subscribes to new points of the object; returns the unsubscribe function. */
  subscribe(listener: (data: unknown) => void): () => void;
  /** The points already kept, sent first as one `history` message so no separate GET is needed. */
  history: unknown[];
  /** A comment line this often keeps proxies and the browser from timing the connection out. */
  heartbeatMs: number;
  /** A client this far behind is disconnected (it reconnects and gets the history again). */
  maxBufferedBytes: number;
  /** The stream ends when the credentials expire. */
  endAt: Date;
}

/**
 * Serves one object's stats as `text/event-stream` until the client goes away: `event: history`
 * with `{samples:[…]}`, then `event: sample` with each new point. Resolves when the connection
 * closes. Points are JSON, so no field can break the framing.
 */
export function serveStatsStream(res: ServerResponse, opts: StatsStreamOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = () => {};
    const close = (slow = false) => {
      if (closed) return;
      closed = true;
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      if (!res.destroyed) {
        if (slow) res.destroy();
        else res.end();
      }
      resolve();
    };
    res.on('close', () => close());
    res.on('error', () => close());
    const write = (text: string) => {
      if (closed) return;
      res.write(text);
      if (res.writableLength > opts.maxBufferedBytes) close(true);
    };
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    write(`retry: 2000\nevent: history\ndata: ${JSON.stringify({ samples: opts.history })}\n\n`);
    unsubscribe = opts.subscribe((data) => write(`event: sample\ndata: ${JSON.stringify(data)}\n\n`));
    timers.push(setInterval(() => write(': heartbeat\n\n'), opts.heartbeatMs));
    const ms = Math.max(0, opts.endAt.getTime() - Date.now());
    timers.push(setTimeout(() => close(), Math.min(ms, 2 ** 31 - 1)));
  });
}
