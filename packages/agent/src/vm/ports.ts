import { createServer } from 'node:net';
import { AgentError } from '../util/errors';

export interface PortRange {
  min: number;
  max: number;
}

/**
 * Hands out loopback TCP ports for VNC displays and their WebSocket listeners. A port is taken when
 * a live VM of this agent holds it (`reserve`) or when something else on the host listens on it
 * (checked by binding it for a moment). The check and QEMU's own bind are not atomic; a start that
 * loses a port in between tries other ports (launch.ts).
 */
export class PortAllocator {
  private readonly taken = new Set<number>();

  constructor(private readonly host = '127.0.0.1') {}

  reserve(port: number): void {
    this.taken.add(port);
  }

  release(port: number): void {
    this.taken.delete(port);
  }

  async allocate(range: PortRange): Promise<number> {
    for (let port = range.min; port <= range.max; port++) {
      if (this.taken.has(port)) continue;
      // Reserve before the asynchronous probe so concurrent starts never pick the same port.
      this.taken.add(port);
      if (await this.isFree(port)) return port;
      this.taken.delete(port);
    }
    throw new AgentError('no_free_port', `no free port in ${range.min}-${range.max} on ${this.host}`, {
      details: { min: range.min, max: range.max },
    });
  }

  private isFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen({ host: this.host, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
  }
}
