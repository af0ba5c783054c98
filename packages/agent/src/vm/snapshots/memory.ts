import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
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

/**
 * Loads a saved memory state into a QEMU started with `-S -incoming defer` (the caller `cont`s it
 * afterwards). The mirror of {@link saveMemoryState}, for the same reasons: QEMU listens on a unix
 * socket in the VM's state directory (`migrate-incoming`), the agent connects and streams the file
 * in — no shell, no file descriptor passing. Resolves once QEMU has left `inmigrate`; a broken or
 * foreign state file makes QEMU refuse it (it exits), which rejects with `memory_restore_failed`.
 */
export async function restoreMemoryState(qmp: QmpClient, vmDir: string, path: string): Promise<void> {
  const socketPath = join(vmDir, 'mem-in.sock');
  await rm(socketPath, { force: true });
  const source = createReadStream(path);
  let connection: Socket | undefined;
  try {
    await qmp.executeUntyped('migrate-incoming', { uri: `unix:${socketPath}` });
    connection = await connectUnix(socketPath);
    const sent = pipeline(source, connection);
    sent.catch(() => undefined);
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const { status } = (await qmp.executeUntyped('query-status')) as { status: string };
      if (status !== 'inmigrate') {
        if (status === 'paused' || status === 'prelaunch' || status === 'running') break;
        throw new AgentError('memory_restore_failed', `loading the memory state ended in state ${status}`, {
          details: { status },
        });
      }
      if (Date.now() > deadline) throw new AgentError('qmp_timeout', 'loading the memory state timed out');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    await sent;
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError('memory_restore_failed', `QEMU did not take the memory state ${path}`, {
      cause: err,
      details: { path },
    });
  } finally {
    source.destroy();
    connection?.destroy();
    await rm(socketPath, { force: true });
  }
}

/** Connects to a unix socket QEMU has just started listening on. */
function connectUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
