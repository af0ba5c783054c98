import { hostname } from 'node:os';
import { connect, type Socket } from 'node:net';
import { AgentError } from '../../util/errors';
import { malformed, XdrReader, XdrWriter } from './xdr';

/**
 * ONC RPC v2 (RFC 5531) calls over TCP with record marking, AUTH_SYS credentials. One connection
 * per program; calls may overlap (matched by xid). Replies are hostile input: a record is capped at
 * {@link MAX_RECORD_BYTES}, every call has a timeout, and any framing or decoding fault closes the
 * connection and fails every call on it.
 */

/** Largest reply record accepted: a 64 KiB READ plus headroom, or a READDIRPLUS page. */
export const MAX_RECORD_BYTES = 256 * 1024;
const LAST_FRAGMENT = 0x8000_0000;
const CALL = 0;
const REPLY = 1;
const MSG_ACCEPTED = 0;
const MSG_DENIED = 1;
const AUTH_NONE = 0;
const AUTH_SYS = 1;

/** Who the calls are made as (AUTH_SYS). The agent runs as root; the server may squash it. */
export interface RpcCredentials {
  uid: number;
  gid: number;
}

export interface RpcConnectOptions {
  host: string;
  port: number;
  /** Per-call and connect timeout. */
  timeoutMs?: number;
  /**
   * Bind a source port below 1024 first (many servers, the Linux kernel's included, refuse
   * requests from unprivileged ports by default); falls back to any port when none is free.
   */
  privilegedPort?: boolean;
  credentials?: RpcCredentials;
  /** Tests inject a fake transport. */
  socketFactory?: () => Socket;
}

interface Pending {
  resolve(r: XdrReader): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

function rpcError(message: string, details: Record<string, unknown> = {}, cause?: unknown): AgentError {
  return new AgentError('storage_unreachable', message, {
    ...(cause === undefined ? {} : { cause }),
    details,
  });
}

function authSys(c: RpcCredentials): Buffer {
  return new XdrWriter()
    .u32(Math.floor(Date.now() / 1000) >>> 0)
    .string(hostname().slice(0, 255), 255)
    .u32(c.uid)
    .u32(c.gid)
    .u32(0) // no supplementary groups
    .bytes();
}

/** Connects a TCP socket, trying reserved source ports first when asked. */
async function open(o: RpcConnectOptions): Promise<Socket> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const attempt = (localPort?: number) =>
    new Promise<Socket>((resolve, reject) => {
      const s = o.socketFactory
        ? o.socketFactory()
        : connect({ host: o.host, port: o.port, ...(localPort ? { localPort } : {}) });
      const t = setTimeout(() => {
        s.destroy();
        reject(rpcError(`connecting to ${o.host}:${o.port} timed out`, { host: o.host, port: o.port }));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(t);
        s.destroy();
        reject(err);
      });
    });
  if (o.privilegedPort && !o.socketFactory && process.getuid?.() === 0) {
    const start = 600 + Math.floor(Math.random() * 400);
    for (let i = 0; i < 16; i++) {
      try {
        return await attempt(((start + i * 7) % 424) + 600);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL') throw wrapConnect(o, err);
      }
    }
  }
  return attempt().catch((err: unknown) => {
    throw wrapConnect(o, err);
  });
}

function wrapConnect(o: RpcConnectOptions, err: unknown): unknown {
  if (err instanceof AgentError) return err;
  return rpcError(
    `cannot connect to ${o.host}:${o.port}: ${(err as Error).message}`,
    { host: o.host, port: o.port },
    err,
  );
}

/** One TCP connection to one RPC program. */
export class RpcConnection {
  private xid = Math.floor(Math.random() * 0xffff_ffff) >>> 0;
  private readonly pending = new Map<number, Pending>();
  private chunks: Buffer[] = [];
  private buffered = 0;
  private fragments: Buffer[] = [];
  private recordBytes = 0;
  private failed: Error | undefined;
  private readonly cred: Buffer;

  private constructor(
    private readonly socket: Socket,
    private readonly opts: RpcConnectOptions,
  ) {
    this.cred = authSys(opts.credentials ?? { uid: 0, gid: 0 });
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('error', (err) =>
      this.fail(rpcError(`connection to ${opts.host}:${opts.port} failed`, {}, err)),
    );
    socket.on('close', () => this.fail(rpcError(`connection to ${opts.host}:${opts.port} closed`)));
  }

  static async connect(o: RpcConnectOptions): Promise<RpcConnection> {
    return new RpcConnection(await open(o), o);
  }

  /** Calls `prog.vers.proc` with XDR-encoded args; resolves with a reader over the results. */
  call(prog: number, vers: number, proc: number, args: Buffer): Promise<XdrReader> {
    if (this.failed) return Promise.reject(this.failed);
    this.xid = (this.xid + 1) >>> 0;
    const xid = this.xid;
    const body = new XdrWriter()
      .u32(xid)
      .u32(CALL)
      .u32(2)
      .u32(prog)
      .u32(vers)
      .u32(proc)
      .u32(AUTH_SYS)
      .opaque(this.cred, 400)
      .u32(AUTH_NONE)
      .u32(0)
      .bytes();
    const header = Buffer.alloc(4);
    header.writeUInt32BE((LAST_FRAGMENT | (body.length + args.length)) >>> 0);
    return new Promise<XdrReader>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(xid);
        reject(
          rpcError(`RPC call ${prog}/${vers}/${proc} to ${this.opts.host} timed out`, {
            host: this.opts.host,
            program: prog,
            procedure: proc,
          }),
        );
      }, this.opts.timeoutMs ?? 15_000);
      this.pending.set(xid, { resolve, reject, timer });
      this.socket.write(Buffer.concat([header, body, args]));
    });
  }

  close(): void {
    this.fail(rpcError('connection closed by the client'));
  }

  private fail(err: Error): void {
    if (!this.failed) this.failed = err;
    this.socket.destroy();
    for (const [xid, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(this.failed);
      this.pending.delete(xid);
    }
  }

  /** Reassembles records from fragments; a fault poisons the connection (framing is lost). */
  private onData(b: Buffer): void {
    if (this.failed) return;
    this.chunks.push(b);
    this.buffered += b.length;
    try {
      for (;;) {
        if (this.buffered < 4) return;
        const head = this.peek(4);
        const word = head.readUInt32BE(0);
        const len = word & 0x7fff_ffff;
        if (this.recordBytes + len > MAX_RECORD_BYTES) {
          throw malformed(`reply record larger than ${MAX_RECORD_BYTES} bytes`);
        }
        if (this.buffered < 4 + len) return;
        this.take(4);
        const frag = this.take(len);
        this.fragments.push(frag);
        this.recordBytes += len;
        if (word & LAST_FRAGMENT) {
          const record = Buffer.concat(this.fragments);
          this.fragments = [];
          this.recordBytes = 0;
          this.onRecord(record);
        }
      }
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private peek(n: number): Buffer {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  private onRecord(record: Buffer): void {
    const r = new XdrReader(record);
    const xid = r.u32('xid');
    const p = this.pending.get(xid);
    // A reply nobody waits for (timed out, or invented): dropped.
    if (!p) return;
    this.pending.delete(xid);
    clearTimeout(p.timer);
    try {
      if (r.u32('msg_type') !== REPLY) throw malformed('not a reply');
      const stat = r.u32('reply_stat');
      if (stat === MSG_DENIED) {
        const why = r.u32('reject_stat');
        throw rpcError(
          `the server denied the call (${why === 0 ? 'RPC version mismatch' : 'authentication error'})`,
          {
            host: this.opts.host,
            reject_stat: why,
          },
        );
      }
      if (stat !== MSG_ACCEPTED) throw malformed(`reply_stat ${stat}`);
      r.u32('verifier flavor');
      r.opaque(400, 'verifier');
      const accept = r.u32('accept_stat');
      if (accept !== 0) {
        const names = [
          'success',
          'program unavailable',
          'program version mismatch',
          'procedure unavailable',
          'garbage arguments',
          'system error',
        ];
        throw rpcError(`the server did not run the call: ${names[accept] ?? `accept_stat ${accept}`}`, {
          host: this.opts.host,
          accept_stat: accept,
        });
      }
      p.resolve(r);
    } catch (err) {
      p.reject(err as Error);
    }
  }
}
