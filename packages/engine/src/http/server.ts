import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** The CA certificate, sent as part of the chain. */
  caPem: string;
}

export interface ListenOptions {
  listen: ListenAddress;
  /** Undefined only in the explicitly configured plain-HTTP mode. */
  tls: TlsMaterial | undefined;
  log: Logger;
  /** How long stop() lets in-flight requests finish before closing their connections. */
  drainMs?: number;
}

/** The engine's listening socket around a built (never listening) Fastify app. */
export interface EngineServer {
  /** The address actually bound (port 0 resolved to the real port). */
  address: ListenAddress;
  protocol: 'https' | 'http';
  /**
   * Serves a new certificate (renewal) to every handshake from now on; connections already open
   * keep the one they negotiated. Ignored in plain-HTTP mode.
   */
  setTls(tls: TlsMaterial): void;
  /** Stops accepting, lets in-flight requests finish (up to drainMs), closes every connection. */
  stop(): Promise<void>;
}

/**
 * Serves `app` over HTTPS (or plain HTTP when configured). The app never listens itself
 * (buildApp() is also used with inject() in tests); this wraps its request handler in a Node
 * server that owns TLS, so the app stays unaware of certificates. Upgrade requests (WebSocket)
 * are handed to `app.server`, where Fastify plugins expect them.
 */
export async function listen(app: FastifyInstance, opts: ListenOptions): Promise<EngineServer> {
  await app.ready();
  const handler = app.routing as unknown as http.RequestListener;
  const serverOpts = {
    // Slow-loris protection: a client must send its headers and body promptly.
    headersTimeout: 30_000,
    requestTimeout: 120_000,
    keepAliveTimeout: 65_000,
  };
  const secure = (tls: TlsMaterial) => ({
    cert: `${tls.certPem.trimEnd()}\n${tls.caPem}`,
    key: tls.keyPem,
    minVersion: 'TLSv1.2' as const,
  });
  const server = opts.tls
    ? https.createServer({ ...serverOpts, ...secure(opts.tls) }, handler)
    : http.createServer(serverOpts, handler);
  server.on('upgrade', (req, socket, head) => {
    if (app.server.listenerCount('upgrade') > 0) app.server.emit('upgrade', req, socket, head);
    else socket.destroy();
  });
  const tlsLog = opts.log.child({ module: 'engine:https' });
  server.on('tlsClientError', (err: Error) => tlsLog.debug({ err }, 'TLS handshake failed'));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${opts.listen.host}:${opts.listen.port}`;
      const hint =
        err.code === 'EADDRINUSE'
          ? `${where} is already in use (another engine?); choose another with VIREO_LISTEN`
          : err.code === 'EACCES'
            ? `no permission to listen on ${where}; ports below 1024 need root`
            : `cannot listen on ${where}`;
      reject(new Error(hint, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: opts.listen.host, port: opts.listen.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = { host: opts.listen.host, port: bound.port };

  let stopping: Promise<void> | undefined;
  return {
    address,
    protocol: opts.tls ? 'https' : 'http',
    setTls(tls) {
      if (server instanceof https.Server) server.setSecureContext(secure(tls));
    },
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Long-lived responses (event streams, long polls) would hold shutdown: give ordinary
        // requests a moment, then cut what is left.
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, opts.drainMs ?? 3000);
        await closed;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** The URL a person on this machine can open: a wildcard listen address becomes `localhost`. */
export function publicUrl(protocol: 'https' | 'http', address: ListenAddress): string {
  const wildcard = ['0.0.0.0', '::', ''].includes(address.host);
  const host = wildcard ? 'localhost' : address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${protocol}://${host}:${address.port}`;
}
