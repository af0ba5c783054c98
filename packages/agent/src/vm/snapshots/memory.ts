import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { QmpClient } from '../../qemu/qmp';
import { AgentError } from '../../util/errors';

const POLL_MS = 20;
const TIMEOUT_MS = 10 * 60_000;
/** Effectively no limit: a local file, not a network. */
const UNCAPPED_BYTES_PER_S = 64 * 1024 ** 3;

/**
 * Saves the paused VM's RAM and device state into `path` (a new file, mode 0600). QEMU 7.2 has no
 * `file:` migration URI, `exec:` would run a shell, and `fd:` needs SCM_RIGHTS that Node's sockets
 * cannot send; so the agent listens on a unix socket in the VM's state directory, QEMU migrates
 * into it, and the agent writes the stream to the file and fsyncs it. Resolves with the size.
 *
 * After an outgoing migration QEMU leaves its images inactive; the caller's `cont` reactivates them.
 */
export async function saveMemoryState(qmp: QmpClient, vmDir: string, path: string): Promise<number> {
  const socketPath = join(vmDir, 'mem.sock');
  await rm(socketPath, { force: true });
  const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  let bytes = 0;
  let connection: Socket | undefined;
  let restoreBandwidth: number | undefined;
  const server = createServer();
  const received = new Promise<void>((resolve, reject) => {
    server.once('connection', (socket) => {
      connection = socket;
      server.close();
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      socket.pipe(file);
      file.on('finish', resolve);
      file.on('error', reject);
      socket.on('error', reject);
    });
  });
  received.catch(() => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, resolve);
    });
    // The default cap (128 MiB/s) is meant for live migration over a network; the guest is stopped
    // here, so every millisecond counts: lift it for this save and put it back afterwards.
    const before = (await qmp.executeUntyped('query-migrate-parameters')) as { 'max-bandwidth'?: number };
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNCAPPED_BYTES_PER_S });
    restoreBandwidth = before['max-bandwidth'];
    await qmp.execute('migrate', { uri: `unix:${socketPath}` });
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const info = await qmp.execute('query-migrate');
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') {
        throw new AgentError('qemu_failed', `saving the memory state failed (${info.status})`, {
          details: { status: info.status },
        });
      }
      if (Date.now() > deadline) throw new AgentError('qmp_timeout', 'saving the memory state timed out');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    await received;
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return bytes;
  } catch (err) {
    connection?.destroy();
    file.destroy();
    await rm(path, { force: true });
    throw err;
  } finally {
    if (restoreBandwidth !== undefined) {
      await qmp
        .execute('migrate-set-parameters', { 'max-bandwidth': restoreBandwidth })
        .catch(() => undefined);
    }
    server.close();
    await rm(socketPath, { force: true });
  }
}
