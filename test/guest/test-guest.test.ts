import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QmpClient } from '../../packages/agent/src/qemu/qmp';
import {
  assertTestGuestBuilt,
  testGuest,
  testGuestCmdline,
  testGuestKernelRelease,
} from '../support/test-guest';

// Generous: the suite shares two cores with other QEMU and PostgreSQL tests. An idle machine boots
// the guest in ≈ 2.5 s.
const BOOT_TIMEOUT_MS = 60_000;
/** The marker and the whole last line of facts after it (the console ends lines with CR LF). */
const GUEST_UP = new RegExp(`${testGuest.marker}[^]*VIREO-TEST-GUEST net: [^\\r\\n]*\\r?\\n`);

/** One QEMU (TCG) whose serial console is its stdio, so the test can read and type on it. */
interface Guest {
  proc: ChildProcessWithoutNullStreams;
  qmp: QmpClient;
  /** Everything the guest printed so far (the serial log), kept for assertions and failures. */
  serial(): string;
  /** Resolves once the serial output matches `pattern`. */
  waitForSerial(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function bootGuest(bootArgs: string[]): Promise<Guest> {
  assertTestGuestBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'vireo-test-guest-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const qmpSocket = join(dir, 'qmp.sock');
  const proc = spawn(
    'qemu-system-x86_64',
    [
      ...['-accel', 'tcg,tb-size=32', '-m', '128', '-nodefaults', '-no-user-config'],
      ...['-display', 'none', '-no-shutdown', '-serial', 'stdio'],
      ...['-qmp', `unix:${qmpSocket},server=on,wait=off`],
      ...bootArgs,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onOutput = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  proc.stdout.on('data', onOutput);
  proc.stderr.on('data', onOutput);

  const waitForSerial = (pattern: RegExp, timeoutMs = BOOT_TIMEOUT_MS) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = output.match(pattern);
        if (match) done(() => resolve(match));
      };
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        proc.off('exit', onExit);
        settle();
      };
      const onExit = () => done(() => reject(new Error(`QEMU exited; serial:\n${output.slice(-2000)}`)));
      const timer = setTimeout(
        () =>
          done(() => reject(new Error(`no ${pattern} in ${timeoutMs} ms; serial:\n${output.slice(-2000)}`))),
        timeoutMs,
      );
      listeners.add(check);
      proc.once('exit', onExit);
      check();
    });

  const qmp = await QmpClient.connect(qmpSocket, { timeoutMs: 10_000, waitForSocket: true });
  cleanups.push(() => qmp.close());
  return { proc, qmp, serial: () => output, waitForSerial, exited };
}

/** The details the guest prints after its marker, by name ("kernel", "disks", "net"). */
function guestFacts(serial: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const [, name, value] of serial.matchAll(/^VIREO-TEST-GUEST (\w+): ?(.*?)\r?$/gm)) {
    facts[name!] = value!;
  }
  return facts;
}

describe('test guest', () => {
  it('boots from its qcow2 as a virtio disk and powers off on the ACPI power button', async () => {
    const guest = await bootGuest([
      ...['-machine', 'q35'],
      // snapshot=on: other tests may boot the same image at the same time; nothing is written to it.
      ...['-drive', `file=${testGuest.qcow2},format=qcow2,if=virtio,snapshot=on`],
    ]);
    const started = Date.now();
    await guest.waitForSerial(GUEST_UP);
    const bootMs = Date.now() - started;
    const facts = guestFacts(guest.serial());
    expect(facts.kernel).toBe(testGuestKernelRelease());
    expect(facts.disks?.split(' ')).toContain('vda');
    expect(facts.net).toBe('none');
    console.info(`test guest: marker ${bootMs} ms after QMP was up (qcow2 on virtio, TCG)`);

    const powerdown = guest.qmp.waitForEvent('POWERDOWN', undefined, { timeoutMs: 10_000 });
    const shutdown = guest.qmp.waitForEvent('SHUTDOWN', undefined, { timeoutMs: 30_000 });
    await guest.qmp.execute('system_powerdown');
    await powerdown;
    // guest: true means the guest itself turned the machine off (acpid → poweroff), not QEMU.
    expect((await shutdown).data).toMatchObject({ guest: true });
    await guest.waitForSerial(/power button: powering off/);
    // -no-shutdown keeps the process, stopped in state "shutdown", until it is told to quit.
    expect(await guest.qmp.execute('query-status')).toMatchObject({ status: 'shutdown', running: false });
    await guest.qmp.execute('quit');
    expect(await guest.exited).toBe(0);
  }, 90_000);

  it('configures its network from vireo.* kernel arguments and answers on the serial shell', async () => {
    const guest = await bootGuest([
      ...['-machine', 'q35'],
      ...['-kernel', testGuest.kernel, '-initrd', testGuest.initrd],
      ...['-append', testGuestCmdline({ ip: '10.0.2.15/24', gw: '10.0.2.2' })],
      // restrict=on: user-mode networking that cannot leave QEMU; 10.0.2.2 is QEMU's own gateway.
      ...['-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0'],
    ]);
    await guest.waitForSerial(GUEST_UP);
    expect(guestFacts(guest.serial()).net).toBe('eth0 10.0.2.15/24');

    // The shell on ttyS0 takes commands; the answer is assembled at run time so the echo of the
    // typed line cannot match it.
    guest.proc.stdin.write(
      '\nip route | sed "s/^/ROUTE-/"; ping -c 1 -W 5 10.0.2.2 >/dev/null && echo PING-$((40+2))\n',
    );
    await guest.waitForSerial(/^ROUTE-default via 10\.0\.2\.2 dev eth0/m, 20_000);
    await guest.waitForSerial(/^PING-42/m, 20_000);
  }, 90_000);

  it('boots from its ISO as a CD-ROM (El Torito, isolinux)', async () => {
    const guest = await bootGuest(['-machine', 'pc', '-cdrom', testGuest.iso, '-boot', 'order=d']);
    await guest.waitForSerial(GUEST_UP);
    expect(guestFacts(guest.serial()).kernel).toBe(testGuestKernelRelease());
  }, 90_000);
});
