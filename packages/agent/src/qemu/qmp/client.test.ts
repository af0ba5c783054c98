import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpClient } from './client';
import { QmpError } from './errors';
import { FakeQmpServer } from './fake-server';

let dir: string;
let socketPath: string;
const servers: FakeQmpServer[] = [];
const clients: QmpClient[] = [];

async function startFake(options: Omit<Parameters<typeof FakeQmpServer.start>[0], 'socketPath'> = {}) {
  const server = await FakeQmpServer.start({ socketPath, ...options });
  servers.push(server);
  return server;
}

async function connect(options: Parameters<typeof QmpClient.connect>[1] = {}) {
  const client = await QmpClient.connect(socketPath, { timeoutMs: 2_000, ...options });
  clients.push(client);
  return client;
}

/** Awaits a promise expected to reject with a QmpError of `code`, and returns that error. */
async function rejection(promise: Promise<unknown>, code: string): Promise<QmpError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a ${code} rejection, got success`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(QmpError);
  expect((error as QmpError).code).toBe(code);
  return error as QmpError;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vireo-qmp-test-'));
  socketPath = join(dir, 'qmp.sock');
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const server of servers.splice(0)) await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('QmpClient handshake', () => {
  it('reads the greeting and negotiates capabilities before anything else', async () => {
    const server = await startFake({
      handlers: { 'query-status': { return: { status: 'prelaunch', running: false } } },
    });
    const client = await connect();
    expect(client.greeting?.QMP.version.qemu.major).toBe(7);
    expect(server.received.map((r) => r.command)).toEqual(['qmp_capabilities']);
    expect(await client.execute('query-status')).toEqual({ status: 'prelaunch', running: false });
  });

  it('fails with qmp_connect_failed when the socket does not exist', async () => {
    await rejection(QmpClient.connect(socketPath, { timeoutMs: 200 }), 'qmp_connect_failed');
  });

  it('waits for a socket that appears later when asked to', async () => {
    const connecting = QmpClient.connect(socketPath, { timeoutMs: 2_000, waitForSocket: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await startFake();
    const client = await connecting;
    clients.push(client);
    expect(client.isClosed).toBe(false);
  });

  it('times out when no greeting comes (another client holds the monitor)', async () => {
    await startFake({ greeting: false });
    const error = await rejection(QmpClient.connect(socketPath, { timeoutMs: 150 }), 'qmp_timeout');
    expect(error.message).toContain('greeting');
  });

  it('rejects a malformed greeting as a protocol error', async () => {
    await startFake({ greeting: '{"QMP": {"nonsense": true}}' });
    await rejection(QmpClient.connect(socketPath), 'qmp_protocol');
  });

  it('reports a refused capabilities negotiation as a command failure', async () => {
    await startFake({ handlers: { qmp_capabilities: { error: { class: 'GenericError', desc: 'nope' } } } });
    const error = await rejection(QmpClient.connect(socketPath), 'qmp_command_failed');
    expect(error.details.desc).toBe('nope');
  });
});

describe('QmpClient commands', () => {
  it('sends typed arguments and matches replies by id even out of order', async () => {
    const server = await startFake({
      handlers: {
        'query-block': { return: [{ device: '', qdev: 'disk-root' }], delayMs: 80 },
        'query-vnc': { return: { enabled: true, host: '127.0.0.1' } },
        block_resize: (args) => ({ return: { echoed: args } }),
      },
    });
    const client = await connect();
    const [block, vnc, resized] = await Promise.all([
      client.execute('query-block'),
      client.execute('query-vnc'),
      client.execute('block_resize', { 'node-name': 'd1', size: 1024 }),
    ]);
    expect(block[0]?.qdev).toBe('disk-root');
    expect(vnc.host).toBe('127.0.0.1');
    expect(resized).toEqual({ echoed: { 'node-name': 'd1', size: 1024 } });
    expect(server.received.at(-1)).toEqual({
      command: 'block_resize',
      args: { 'node-name': 'd1', size: 1024 },
    });
  });

  it("carries QEMU's error class and description", async () => {
    await startFake({
      handlers: { device_del: { error: { class: 'DeviceNotFound', desc: "Device 'nic-x' not found" } } },
    });
    const client = await connect();
    const error = await rejection(client.execute('device_del', { id: 'nic-x' }), 'qmp_command_failed');
    expect(error.details).toMatchObject({ command: 'device_del', class: 'DeviceNotFound' });
    expect(error.details.desc).toContain('nic-x');
  });

  it('times a command out and keeps the connection usable; the late reply is ignored', async () => {
    const server = await startFake({ handlers: { stop: { return: {}, delayMs: 300 } } });
    const client = await connect();
    const error = await rejection(client.execute('stop', undefined, { timeoutMs: 50 }), 'qmp_timeout');
    expect(error.details).toMatchObject({ command: 'stop', timeoutMs: 50 });
    server.on('query-status', { return: { status: 'paused', running: false } });
    expect((await client.execute('query-status')).status).toBe('paused');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(client.isClosed).toBe(false);
  });

  it('rejects every pending command with qmp_disconnected when QEMU goes away mid-command', async () => {
    const server = await startFake({
      handlers: { cont: { noReply: true }, system_reset: { noReply: true } },
    });
    const client = await connect();
    const closed = new Promise<QmpError | undefined>((resolve) => client.once('close', resolve));
    const cont = client.execute('cont');
    const reset = client.execute('system_reset');
    await new Promise((resolve) => setTimeout(resolve, 30));
    server.dropConnections();
    await rejection(cont, 'qmp_disconnected');
    await rejection(reset, 'qmp_disconnected');
    expect((await closed)?.code).toBe('qmp_disconnected');
    expect(client.isClosed).toBe(true);
    await rejection(client.execute('query-status'), 'qmp_disconnected');
  });

  it('treats a disconnect during quit as success', async () => {
    await startFake({ handlers: { quit: { disconnect: true, eventsBefore: [{ event: 'SHUTDOWN' }] } } });
    const client = await connect();
    const shutdown = client.waitForEvent('SHUTDOWN');
    await expect(client.execute('quit')).resolves.toEqual({});
    await client.waitClosed();
    expect((await shutdown).event).toBe('SHUTDOWN');
  });

  it('closes with qmp_protocol on garbage, failing what was in flight', async () => {
    await startFake({ handlers: { 'query-status': { raw: 'this is not json\n' } } });
    const client = await connect();
    const error = await rejection(client.execute('query-status'), 'qmp_protocol');
    expect(error.details.command).toBe('query-status');
    expect(client.isClosed).toBe(true);
  });

  it('closes with qmp_protocol when a line exceeds the size cap', async () => {
    const server = await startFake({ handlers: { 'query-block': { noReply: true } } });
    const client = await connect({ maxLineBytes: 4096 });
    const pending = client.execute('query-block');
    // No newline: the client must give up once the unfinished line passes the cap, not buffer forever.
    server.sendRaw(`{"return": "${'x'.repeat(3000)}`);
    server.sendRaw('y'.repeat(3000));
    const error = await rejection(pending, 'qmp_protocol');
    expect(error.message).toContain('4096');
  });
});

describe('QmpClient framing and events', () => {
  it('reassembles lines split across chunks and splits several messages in one chunk', async () => {
    const server = await startFake({ handlers: { 'query-status': { noReply: true } } });
    const client = await connect();
    const events: string[] = [];
    client.on('event', (e) => events.push(e.event));
    const status = client.execute('query-status');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const id = 'vireo-2'; // the second command of this connection (the first was qmp_capabilities)
    const reply = `{"return": {"status": "running", "running": true}, "id": "${id}"}\n`;
    const event = (name: string) => `{"event": "${name}", "timestamp": {"seconds": 1, "microseconds": 2}}\n`;
    const stream = Buffer.from(`${event('A')}${reply}${event('B')}${event('ÉVÉNEMENT')}`);
    // Small byte-wise pieces, some cutting through a multi-byte UTF-8 character.
    for (let offset = 0; offset < stream.length; offset += 7) {
      server.sendRaw(stream.subarray(offset, offset + 7));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await status).toEqual({ status: 'running', running: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual(['A', 'B', 'ÉVÉNEMENT']);
  });

  it('delivers an event to a waiter registered before the command, even when it precedes the reply', async () => {
    await startFake({
      handlers: {
        system_powerdown: { return: {}, eventsBefore: [{ event: 'POWERDOWN' }] },
        'blockdev-add': {
          return: {},
          eventsBefore: [
            { event: 'JOB_STATUS_CHANGE', data: { id: 'other', status: 'concluded' } },
            { event: 'JOB_STATUS_CHANGE', data: { id: 'job0', status: 'concluded' } },
          ],
        },
      },
    });
    const client = await connect();
    const powerdown = client.waitForEvent('POWERDOWN', undefined, { timeoutMs: 1_000 });
    await client.execute('system_powerdown');
    expect((await powerdown).event).toBe('POWERDOWN');

    const job = client.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data?.id === 'job0', { timeoutMs: 1_000 });
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n0' });
    expect((await job).data).toEqual({ id: 'job0', status: 'concluded' });
  });

  it('delivers events that arrive between replies and while idle', async () => {
    const server = await startFake({
      handlers: {
        stop: { return: {}, eventsAfter: [{ event: 'STOP' }] },
        cont: { return: {}, eventsAfter: [{ event: 'RESUME' }] },
      },
    });
    const client = await connect();
    const seen: string[] = [];
    client.on('event', (e) => seen.push(e.event));
    await client.execute('stop');
    server.sendEvent('RTC_CHANGE', { offset: 1 });
    await client.execute('cont');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual(['STOP', 'RTC_CHANGE', 'RESUME']);
  });

  it('times out an event wait, and rejects waiters when the connection drops', async () => {
    const server = await startFake();
    const client = await connect();
    const error = await rejection(
      client.waitForEvent('SHUTDOWN', undefined, { timeoutMs: 40 }),
      'qmp_timeout',
    );
    expect(error.details.event).toBe('SHUTDOWN');
    const waiting = client.waitForEvent('SHUTDOWN', undefined, { timeoutMs: 5_000 });
    server.dropConnections();
    await rejection(waiting, 'qmp_disconnected');
    // Registered after the close: rejects at once instead of hanging.
    await rejection(client.waitForEvent('SHUTDOWN'), 'qmp_disconnected');
  });

  it('stops waiting when the signal aborts', async () => {
    await startFake();
    const client = await connect();
    const controller = new AbortController();
    const waiting = client.waitForEvent('RESUME', undefined, { signal: controller.signal, timeoutMs: 5_000 });
    controller.abort(new Error('cancelled by test'));
    await expect(waiting).rejects.toThrow('cancelled by test');
  });

  it('survives a throwing event listener', async () => {
    const server = await startFake({
      handlers: { 'query-status': { return: { status: 'running', running: true } } },
    });
    const client = await connect();
    client.on('event', () => {
      throw new Error('listener bug');
    });
    server.sendEvent('RESUME');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await client.execute('query-status')).running).toBe(true);
  });

  it('reconnects after a disconnect with a fresh handshake', async () => {
    const server = await startFake({
      handlers: { 'query-status': { return: { status: 'running', running: true } } },
    });
    const first = await connect();
    server.dropConnections();
    await first.waitClosed();
    const second = await connect();
    expect((await second.execute('query-status')).status).toBe('running');
    expect(server.received.filter((r) => r.command === 'qmp_capabilities')).toHaveLength(2);
  });
});
