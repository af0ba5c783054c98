import { rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';

/**
 * Keeps a second agent off the same state directory: two agents would both adopt the same QEMUs
 * and fight over their single QMP connections. The lock is a listening unix socket; the kernel
 * releases it when the holder dies (even by SIGKILL), and a leftover socket file that nobody
 * answers on is stale and replaced.
 */
export class InstanceLock {
  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  static async acquire(path: string): Promise<InstanceLock> {
    try {
      return new InstanceLock(await listen(path), path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
    if (await answers(path)) {
      throw new Error(`another vireo-agent is running on this state directory (${path} is held)`);
    }
    await rm(path, { force: true });
    return new InstanceLock(await listen(path), path);
  }

  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end());
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
