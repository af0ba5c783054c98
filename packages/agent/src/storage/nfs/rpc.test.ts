import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NfsClient } from './client';
import { MAX_RECORD_BYTES, RpcConnection } from './rpc';
import { XdrReader, XdrWriter } from './xdr';

/**
 * Hostile and broken replies against the XDR decoder, the record-marking reader and the client: a
 * fake RPC server on loopback answers whatever each case scripts.
 */

interface Call {
  xid: number;
  prog: number;
  proc: number;
  args: XdrReader;
}

type Script = (call: Call, sock: Socket) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function record(body: Buffer, last = true): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(((last ? 0x8000_0000 : 0) | body.length) >>> 0);
  return Buffer.concat([h, body]);
}

/** An accepted, successful reply header for `xid`, then `results`. */
function okReply(xid: number, results: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([new XdrWriter().u32(xid).u32(1).u32(0).u32(0).u32(0).u32(0).bytes(), results]);
}

async function fakeServer(script: Script): Promise<number> {
  const server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0) & 0x7fff_ffff;
        if (buf.length < 4 + len) return;
        const r = new XdrReader(buf.subarray(4, 4 + len));
        buf = buf.subarray(4 + len);
        const xid = r.u32();
        r.u32(); // CALL
        r.u32(); // rpcvers
        const prog = r.u32();
        r.u32(); // vers
        const proc = r.u32();
        r.u32();
        r.opaque(400);
        r.u32();
        r.opaque(400);
        script({ xid, prog, proc, args: r }, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('XDR reader', () => {
  it('refuses lengths past the end, over the cap, and non-boolean booleans', () => {
    const over = new XdrReader(new XdrWriter().u32(100).bytes());
    expect(() => over.opaque(1000)).toThrow(/runs past the end/);
    const capped = new XdrReader(new XdrWriter().opaque(Buffer.alloc(80), 100).bytes());
    expect(() => capped.opaque(64, 'file handle')).toThrow(/claims 80 bytes \(at most 64\)/);
    expect(() => new XdrReader(new XdrWriter().u32(2).bytes()).bool()).toThrow(/not a boolean/);
    expect(() => new XdrReader(Buffer.alloc(3)).u32()).toThrow(
      expect.objectContaining({ code: 'storage_unreachable' }),
    );
  });

  it('round-trips padded opaques and 64-bit values', () => {
    const r = new XdrReader(
      new XdrWriter()
        .string('abcde', 10)
        .u64(2n ** 40n)
        .bytes(),
    );
    expect(r.string(10)).toBe('abcde');
    expect(r.u64()).toBe(2 ** 40);
    expect(r.remaining).toBe(0);
  });
});

describe('RPC over TCP', () => {
  it('reassembles a reply split into fragments and TCP writes', async () => {
    const port = await fakeServer((c, sock) => {
      const body = okReply(c.xid, new XdrWriter().u32(4242).bytes());
      const wire = Buffer.concat([record(body.subarray(0, 10), false), record(body.subarray(10))]);
      // One byte at a time: the reader must not assume a record arrives in one chunk.
      for (const byte of wire) sock.write(Buffer.from([byte]));
    });
    const c = await RpcConnection.connect({ host: '127.0.0.1', port });
    try {
      const r = await c.call(1, 1, 1, Buffer.alloc(0));
      expect(r.u32()).toBe(4242);
    } finally {
      c.close();
    }
  });

  it('fails the call and drops the connection when a record claims more than the cap', async () => {
    const port = await fakeServer((_c, sock) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE((0x8000_0000 | (MAX_RECORD_BYTES + 1)) >>> 0);
      sock.write(h);
    });
    const c = await RpcConnection.connect({ host: '127.0.0.1', port });
    await expect(c.call(1, 1, 1, Buffer.alloc(0))).rejects.toMatchObject({
      code: 'storage_unreachable',
      message: expect.stringMatching(/larger than/),
    });
    // Framing is lost: later calls fail at once instead of hanging.
    await expect(c.call(1, 1, 1, Buffer.alloc(0))).rejects.toMatchObject({ code: 'storage_unreachable' });
  });

  it('ignores replies with a foreign xid and times the call out', async () => {
    const port = await fakeServer((c, sock) => {
      sock.write(record(okReply((c.xid + 1) >>> 0)));
    });
    const c = await RpcConnection.connect({ host: '127.0.0.1', port, timeoutMs: 300 });
    try {
      await expect(c.call(1, 1, 1, Buffer.alloc(0))).rejects.toMatchObject({
        code: 'storage_unreachable',
        message: expect.stringMatching(/timed out/),
      });
    } finally {
      c.close();
    }
  });

  it('turns MSG_DENIED and PROG_UNAVAIL into coded errors', async () => {
    const port = await fakeServer((c, sock) => {
      const denied = new XdrWriter().u32(c.xid).u32(1).u32(1).u32(1).u32(1).bytes();
      const unavailable = new XdrWriter().u32(c.xid).u32(1).u32(0).u32(0).u32(0).u32(1).bytes();
      sock.write(record(c.proc === 1 ? denied : unavailable));
    });
    const c = await RpcConnection.connect({ host: '127.0.0.1', port });
    try {
      await expect(c.call(1, 1, 1, Buffer.alloc(0))).rejects.toMatchObject({
        code: 'storage_unreachable',
        message: expect.stringMatching(/authentication error/),
      });
      await expect(c.call(1, 1, 2, Buffer.alloc(0))).rejects.toThrow(/program unavailable/);
    } finally {
      c.close();
    }
  });
});

describe('NFS client against hostile replies', () => {
  /** Portmapper, MOUNT and NFS on one port; `nfs` answers the NFS procedures. */
  async function server(nfs: (c: Call) => Buffer, rootFh = Buffer.alloc(8, 1)): Promise<number> {
    let self = 0;
    self = await fakeServer((c, sock) => {
      let results: Buffer;
      if (c.prog === 100000) results = new XdrWriter().u32(self).bytes();
      else if (c.prog === 100005 && c.proc === 1)
        results = new XdrWriter().u32(0).opaque(rootFh, 1024).u32(1).u32(1).bytes();
      else if (c.prog === 100005) results = Buffer.alloc(0);
      else results = nfs(c);
      sock.write(record(okReply(c.xid, results)));
    });
    return self;
  }
  const connect = (port: number) =>
    NfsClient.connect({ server: '127.0.0.1', export: '/x', portmapPort: port, timeoutMs: 2000 });

  it('refuses a root file handle longer than 64 bytes', async () => {
    const port = await server(() => Buffer.alloc(0), Buffer.alloc(65, 1));
    await expect(connect(port)).rejects.toThrow(/file handle claims 65 bytes/);
  });

  it('refuses a READDIRPLUS that makes no progress instead of looping', async () => {
    const port = await server((c) => {
      if (c.proc === 1) {
        // GETATTR of the root: a directory.
        return new XdrWriter().u32(0).u32(2).u32(0o755).fixed(Buffer.alloc(76)).bytes();
      }
      // One entry with cookie 0 and eof false, every time.
      return new XdrWriter()
        .u32(0)
        .bool(false)
        .fixed(Buffer.alloc(8))
        .bool(true)
        .u64(1)
        .string('a', 255)
        .u64(0)
        .bool(false)
        .bool(false)
        .bool(false)
        .bool(false)
        .bytes();
    });
    const c = await connect(port);
    try {
      await expect(c.readdir('')).rejects.toThrow(/made no progress/);
    } finally {
      await c.close();
    }
  });

  it('refuses READ data that disagrees with its count, and files over the size cap', async () => {
    const fattr = (size: number) =>
      new XdrWriter().u32(1).u32(0o644).fixed(Buffer.alloc(12)).u64(size).fixed(Buffer.alloc(56)).bytes();
    const port = await server((c) => {
      if (c.proc === 3) {
        c.args.opaque(64);
        const name = c.args.string(255);
        const size = name === 'big' ? 10_000_000 : 5;
        return Buffer.concat([
          new XdrWriter().u32(0).opaque(Buffer.alloc(8, 2), 64).bool(true).bytes(),
          fattr(size),
          new XdrWriter().bool(false).bytes(),
        ]);
      }
      // READ: claims 100 bytes, sends 5.
      return new XdrWriter().u32(0).bool(false).u32(100).bool(true).opaque(Buffer.from('hello'), 64).bytes();
    });
    const c = await connect(port);
    try {
      await expect(c.readFile('small', 1000)).rejects.toThrow(/READ count differs/);
      await expect(c.readFile('big', 64 * 1024)).rejects.toMatchObject({ code: 'file_too_large' });
      await expect(c.readFile('../etc/passwd', 10)).rejects.toMatchObject({ code: 'invalid_params' });
    } finally {
      await c.close();
    }
  });
});
