import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NfsClient } from './client';
import { XdrReader, XdrWriter } from './xdr';

/**
 * Unstable writes and COMMIT against a scripted server: the write verifier of every reply must
 * match (a change means the server restarted and may have dropped data), and replies that claim
 * more than was sent or an unknown stability are refused.
 */

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function record(body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE((0x8000_0000 | body.length) >>> 0);
  return Buffer.concat([h, body]);
}

/** Portmapper, MOUNT and NFS on one port; `nfs(proc, args)` answers the NFS procedures. */
async function server(nfs: (proc: number, args: XdrReader) => Buffer): Promise<number> {
  let port = 0;
  const s = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0) & 0x7fff_ffff;
        if (buf.length < 4 + len) return;
        const r = new XdrReader(buf.subarray(4, 4 + len));
        buf = buf.subarray(4 + len);
        const xid = r.u32();
        r.u32();
        r.u32();
        const prog = r.u32();
        r.u32();
        const proc = r.u32();
        r.u32();
        r.opaque(400);
        r.u32();
        r.opaque(400);
        let results: Buffer;
        if (prog === 100000) results = new XdrWriter().u32(port).bytes();
        else if (prog === 100005 && proc === 1)
          results = new XdrWriter().u32(0).opaque(Buffer.alloc(8, 1), 1024).u32(1).u32(1).bytes();
        else if (prog === 100005) results = Buffer.alloc(0);
        else results = nfs(proc, r);
        const head = new XdrWriter().u32(xid).u32(1).u32(0).u32(0).u32(0).u32(0).bytes();
        sock.write(record(Buffer.concat([head, results])));
      }
    });
    sock.on('error', () => undefined);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  port = (s.address() as { port: number }).port;
  return port;
}

/** A WRITE or COMMIT reply: status 0, empty wcc_data, then `rest`. */
const reply = (rest: XdrWriter) =>
  Buffer.concat([new XdrWriter().u32(0).bool(false).bool(false).bytes(), rest.bytes()]);

describe('NFS client unstable writes', () => {
  const fh = Buffer.alloc(8, 2);
  const connect = (port: number) =>
    NfsClient.connect({ server: '127.0.0.1', export: '/x', portmapPort: port, timeoutMs: 2000 });

  it('returns the verifier of WRITE and COMMIT, and refuses a verifier that changed mid-write', async () => {
    let writes = 0;
    /** After this many WRITEs the server answers a new verifier, as after a restart. */
    let restartAfter = Number.POSITIVE_INFINITY;
    const verf = () => Buffer.alloc(8, writes > restartAfter ? 9 : 7);
    const port = await server((proc, args) => {
      if (proc === 7) {
        args.opaque(64);
        args.u64();
        const count = args.u32();
        writes += 1;
        return reply(new XdrWriter().u32(count).u32(0).fixed(verf()));
      }
      return reply(new XdrWriter().fixed(verf()));
    });
    const c = await connect(port);
    try {
      expect(await c.writeAt(fh, 0, Buffer.alloc(64 * 1024), 'f', false)).toEqual(Buffer.alloc(8, 7));
      expect(writes).toBe(2);
      expect(await c.commit(fh, 'f')).toEqual(Buffer.alloc(8, 7));
      // The server "restarts" after the first chunk of the next write.
      restartAfter = writes + 1;
      await expect(c.writeAt(fh, 0, Buffer.alloc(96 * 1024), 'f', false)).rejects.toThrow(/restarted/);
      // A stable write must come back FILE_SYNC: these reply UNSTABLE.
      await expect(c.writeAt(fh, 0, Buffer.alloc(10), 'f')).rejects.toThrow(/not FILE_SYNC/);
    } finally {
      await c.close();
    }
  });

  it('refuses a WRITE that claims more bytes than were sent or an unknown stability', async () => {
    let mode = 'count';
    const port = await server((_proc, args) => {
      args.opaque(64);
      args.u64();
      const count = args.u32();
      if (mode === 'count')
        return reply(
          new XdrWriter()
            .u32(count + 1)
            .u32(2)
            .fixed(Buffer.alloc(8)),
        );
      return reply(new XdrWriter().u32(count).u32(5).fixed(Buffer.alloc(8)));
    });
    const c = await connect(port);
    try {
      await expect(c.writeAt(fh, 0, Buffer.alloc(10), 'f', false)).rejects.toThrow(/WRITE count 11/);
      mode = 'stability';
      await expect(c.writeAt(fh, 0, Buffer.alloc(10), 'f', false)).rejects.toThrow(/committed as 5/);
    } finally {
      await c.close();
    }
  });
});
