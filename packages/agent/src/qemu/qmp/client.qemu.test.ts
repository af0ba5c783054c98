import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQemuArgv, type LaunchPlan } from '../argv/index';
import { QmpClient } from './client';
import { QmpError } from './errors';

const run = promisify(execFile);
let dir: string;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Starts a paused QEMU (TCG) from the real argv builder; returns its plan and PID. */
async function startQemu(name: string): Promise<{ plan: LaunchPlan; pid: number }> {
  const runDir = join(dir, name);
  const plan: LaunchPlan = {
    spec: {
      id: '3b0f6f1e-2f55-4c1a-8a8e-5a4c3b2a1908',
      name,
      machine: 'q35',
      cpu: { model: 'qemu64', sockets: 1, cores: 2, threads: 1 },
      memory_mib: 64,
      disks: [],
      cdrom: { path: null, interface: 'sata' },
      boot_order: [],
      nics: [],
      display: { vnc: true },
      serial: false,
    },
    accel: 'tcg',
    sandbox: true,
    paths: {
      qmpSocket: `${runDir}-qmp.sock`,
      serialSocket: `${runDir}-serial.sock`,
      serialLog: `${runDir}-serial.log`,
      pidfile: `${runDir}.pid`,
    },
    vnc: { display: (await freePort()) - 5900, websocketPort: await freePort() },
  };
  await run('qemu-system-x86_64', buildQemuArgv(plan));
  return { plan, pid: Number(readFileSync(plan.paths.pidfile, 'utf8')) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vireo-qmp-qemu-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('QmpClient against real QEMU', () => {
  it('drives a paused VM through its life: status, events, passwords, media, errors, quit', async () => {
    const { plan, pid } = await startQemu('lifecycle');
    const qmp = await QmpClient.connect(plan.paths.qmpSocket);
    try {
      expect(qmp.greeting?.QMP.version.qemu.major).toBe(7);
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });

      const resumed = qmp.waitForEvent('RESUME', undefined, { timeoutMs: 5_000 });
      await qmp.execute('cont');
      await resumed;
      expect((await qmp.execute('query-status')).status).toBe('running');
      const stopped = qmp.waitForEvent('STOP', undefined, { timeoutMs: 5_000 });
      await qmp.execute('stop');
      await stopped;
      expect((await qmp.execute('query-status')).status).toBe('paused');

      expect(await qmp.execute('query-cpus-fast')).toHaveLength(2);
      await qmp.execute('set_password', { protocol: 'vnc', password: 'one-time' });
      await qmp.execute('expire_password', { protocol: 'vnc', time: '+60' });
      expect(await qmp.execute('query-vnc')).toMatchObject({ enabled: true, host: '127.0.0.1', auth: 'vnc' });

      const iso = join(dir, 'media.iso');
      await run('truncate', ['-s', '1M', iso]);
      const trayClosed = qmp.waitForEvent('DEVICE_TRAY_MOVED', (e) => e.data?.['tray-open'] === false);
      await qmp.execute('blockdev-change-medium', { id: 'cdrom0', filename: iso, format: 'raw' });
      await trayClosed;
      const cd = (await qmp.execute('query-block')).find((b) => b.qdev?.includes('cdrom0'));
      expect(cd?.inserted?.file).toBe(iso);

      const failure = await qmp.execute('device_del', { id: 'no-such-device' }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(QmpError);
      expect(failure).toMatchObject({ code: 'qmp_command_failed', details: { class: 'DeviceNotFound' } });

      const hmp = await qmp.execute('human-monitor-command', { 'command-line': 'info status' });
      expect(hmp).toContain('paused');

      const shutdown = qmp.waitForEvent('SHUTDOWN', undefined, { timeoutMs: 5_000 });
      await qmp.execute('quit');
      expect((await shutdown).data).toMatchObject({ guest: false });
      await qmp.waitClosed();
      const after = await qmp.execute('query-status').catch((e: unknown) => e);
      expect(after).toMatchObject({ code: 'qmp_disconnected' });
    } finally {
      await qmp.close();
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('reports a killed QEMU as qmp_disconnected to waiters, without an unhandled error', async () => {
    const { plan, pid } = await startQemu('killed');
    const qmp = await QmpClient.connect(plan.paths.qmpSocket);
    try {
      const closed = new Promise<QmpError | undefined>((resolve) => qmp.once('close', resolve));
      const waiting = qmp.waitForEvent('RESUME', undefined, { timeoutMs: 10_000 });
      process.kill(pid, 'SIGKILL');
      expect(await waiting.catch((e: unknown) => e)).toMatchObject({ code: 'qmp_disconnected' });
      expect((await closed)?.code).toBe('qmp_disconnected');

      // Nothing answers on the socket any more. Depending on how far the kernel got in tearing the
      // process down, the connection is refused or accepted by the dying socket and then reset.
      const reconnect = await QmpClient.connect(plan.paths.qmpSocket, { timeoutMs: 1_000 }).catch(
        (e: unknown) => e,
      );
      expect(reconnect).toBeInstanceOf(QmpError);
      expect(['qmp_connect_failed', 'qmp_disconnected']).toContain((reconnect as QmpError).code);
    } finally {
      await qmp.close();
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('reconnects to a running QEMU and sees its current state', async () => {
    const { plan, pid } = await startQemu('reconnect');
    try {
      const first = await QmpClient.connect(plan.paths.qmpSocket);
      await first.execute('cont');
      await first.close();
      const second = await QmpClient.connect(plan.paths.qmpSocket);
      expect((await second.execute('query-status')).status).toBe('running');
      await second.execute('quit');
      await second.close();
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
