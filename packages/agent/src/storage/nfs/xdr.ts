import { AgentError } from '../../util/errors';

/**
 * XDR (RFC 4506) encoding and decoding for the small NFSv3 client. Everything read comes from the
 * network: every length is checked against what is left of the buffer and against a cap before
 * anything is allocated, so a hostile server can make a call fail but never make the agent allocate
 * or loop without bound.
 */

/** A reply that does not decode: the server is broken or hostile. */
export function malformed(what: string, cause?: unknown): AgentError {
  return new AgentError('storage_unreachable', `malformed NFS reply: ${what}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { reason: 'malformed_reply' },
  });
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** Appends XDR items; `bytes()` returns the encoding. */
export class XdrWriter {
  private readonly parts: Buffer[] = [];

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`u32 out of range: ${v}`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }

  u64(v: bigint | number): this {
    const big = BigInt(v);
    if (big < 0n || big > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 out of range: ${v}`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(big);
    this.parts.push(b);
    return this;
  }

  bool(v: boolean): this {
    return this.u32(v ? 1 : 0);
  }

  /** Fixed-length opaque (no length word), padded. */
  fixed(b: Buffer): this {
    this.parts.push(b, Buffer.alloc(pad4(b.length)));
    return this;
  }

  /** Variable-length opaque with a maximum (the protocol's `<max>`). */
  opaque(b: Buffer, max: number): this {
    if (b.length > max) throw new RangeError(`opaque longer than ${max} bytes`);
    this.u32(b.length);
    return this.fixed(b);
  }

  string(s: string, max: number): this {
    return this.opaque(Buffer.from(s, 'utf8'), max);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads XDR items from one reply; any overrun or out-of-cap length is a `malformed` error. */
export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) throw malformed(`${what} runs past the end of the reply`);
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A 64-bit unsigned value as a JS number; above 2^53 it is clamped (sizes never get there). */
  u64(what = 'u64'): number {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  /** A 64-bit value kept exact (cookies). */
  u64Big(what = 'u64'): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(what = 'bool'): boolean {
    const v = this.u32(what);
    if (v > 1) throw malformed(`${what} is ${v}, not a boolean`);
    return v === 1;
  }

  fixed(n: number, what = 'opaque'): Buffer {
    this.need(n + pad4(n), what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n + pad4(n);
    return Buffer.from(b);
  }

  opaque(max: number, what = 'opaque'): Buffer {
    const n = this.u32(`${what} length`);
    if (n > max) throw malformed(`${what} claims ${n} bytes (at most ${max})`);
    return this.fixed(n, what);
  }

  string(max: number, what = 'string'): string {
    return this.opaque(max, what).toString('utf8');
  }

  skip(n: number, what = 'field'): void {
    this.need(n, what);
    this.pos += n;
  }
}
