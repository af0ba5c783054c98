import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import type { VmRuntime } from '../vm/runtime';

/** `/console/v1/{vm_id}?type=vnc|serial` on the agent's mTLS server. */
const CONSOLE_PATH = /^\/console\/v1\/([0-9a-fA-F-]{36})$/;

/**
 * The agent's console endpoint: a WebSocket (binary frames) relayed byte for byte to the VM's
 * serial socket or to QEMU's loopback VNC port. Only the engine reaches it: the server requires a
 * client certificate from the engine CA at the TLS handshake, before any HTTP. The engine checks the
 * user's ticket; for VNC the VNC password (set by the engine over `vm.console`) guards QEMU too.
 *
 * Returns an `upgrade` handler that answers true when it took the request.
 */
export function consoleUpgradeHandler(opts: {
  runtime: VmRuntime;
  log: Logger;
}): (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
  const log = opts.log.child({ module: 'agent:console' });
  return (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'https://agent');
    const m = CONSOLE_PATH.exec(url.pathname);
    if (!m) return false;
    const vmId = (m[1] as string).toLowerCase();
    const type = url.searchParams.get('type');
    const refuse = (status: string) => socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    if (type !== 'vnc' && type !== 'serial') {
      refuse('400 Bad Request');
      return true;
    }
    let target: { path: string } | { host: string; port: number };
    try {
      const info = opts.runtime.get(vmId).info();
      if (type === 'serial') {
        if (!info.serial) throw new Error('no serial console');
        target = { path: info.serial.socket };
      } else {
        if (!info.vnc) throw new Error('no VNC display');
        target = { host: info.vnc.host, port: info.vnc.port };
      }
    } catch {
      refuse('404 Not Found');
      return true;
    }
    wss.handleUpgrade(req, socket, head, (ws) => relay(ws, connect(target), log.child({ vmId, type })));
    return true;
  };
}

/** Pipes a WebSocket and a stream both ways; either side closing closes the other. */
function relay(ws: WebSocket, peer: Socket, log: Logger): void {
  log.info('console opened');
  const close = () => {
    peer.destroy();
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
  };
  peer.on('data', (chunk: Buffer) => {
    ws.send(chunk, { binary: true });
    // Back-pressure: a slow client pauses the VM's output instead of growing our buffers.
    if (ws.bufferedAmount > 1 << 20) {
      peer.pause();
      const resume = setInterval(() => {
        if (ws.bufferedAmount < 1 << 18 || ws.readyState !== ws.OPEN) {
          clearInterval(resume);
          peer.resume();
        }
      }, 20);
    }
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    peer.write(buf);
  });
  peer.on('error', (err) => {
    log.info({ err: err.message }, 'console target error');
    close();
  });
  peer.on('close', close);
  ws.on('close', () => {
    log.info('console closed');
    peer.destroy();
  });
  ws.on('error', () => peer.destroy());
}
