import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VmSpec } from '@vireo/agent-protocol';
import {
  assertTestGuestBuilt,
  testGuest as sharedGuest,
  testGuestCmdline,
} from '../../../../test/support/test-guest';
import { scanQemuProcesses } from '../../src/qemu/process/proc';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The test guest's paths (test/support/test-guest.ts), checked to exist. */
export function testGuest(): typeof sharedGuest {
  assertTestGuestBuilt();
  return sharedGuest;
}

export const GUEST_MARKER = sharedGuest.marker;

/**
 * A small q35 VM booting the test guest's kernel directly (no firmware boot menu: the boot path is
 * not what these tests are about), with a serial console.
 */
export function guestSpec(id: string, name: string, overrides: Partial<VmSpec> = {}): VmSpec {
  const guest = testGuest();
  return {
    id,
    name,
    machine: 'q35',
    cpu: { model: 'qemu64', sockets: 1, cores: 1, threads: 1 },
    memory_mib: 128,
    disks: [],
    boot_order: [],
    nics: [],
    display: { vnc: false },
    serial: true,
    kernel: { kernel: guest.kernel, initrd: guest.initrd, cmdline: testGuestCmdline() },
    ...overrides,
  };
}

/** Waits until `file` contains `text` `count` times. */
export async function waitForText(file: string, text: string, timeoutMs: number, count = 1): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const content = await readFile(file, 'utf8').catch(() => '');
    if (content.split(text).length - 1 >= count) return content;
    if (Date.now() > deadline) {
      throw new Error(
        `"${text}" x${count} not in ${file} after ${timeoutMs} ms; last output:\n${content.slice(-800)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs one shell command in the guest through its serial console socket and returns what the
 * guest printed between two markers (the console echoes input, so the markers are built by the
 * shell at run time and cannot match the echo).
 */
export async function guestShell(serialSocket: string, command: string, timeoutMs = 15_000): Promise<string> {
  const tag = `T${Math.floor(Math.random() * 1e9)}`;
  const begin = `${tag}-BEGIN`;
  const end = `${tag}-END`;
  return new Promise((resolvePromise, reject) => {
    const socket = connect(serialSocket);
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`guest command "${command}" timed out; output: ${out.slice(-500)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk: string) => {
      out += chunk;
      const from = out.indexOf(`${begin}\r\n`);
      const to = out.indexOf(end, from + 1);
      if (from >= 0 && to > from) {
        clearTimeout(timer);
        socket.destroy();
        resolvePromise(out.slice(from + begin.length + 2, to).replace(/\r/g, ''));
      }
    });
    socket.on('connect', () => {
      // "${t}-BEGIN" is assembled by the shell: the echoed command line never contains it.
      socket.write(`\nt=${tag}; echo "$t-BEGIN"; ${command}; echo "$t-END"\n`);
    });
  });
}

/** PIDs of live QEMU processes whose argv carries `-uuid <vmId>`. */
export async function qemuPidsFor(vmId: string): Promise<number[]> {
  return (await scanQemuProcesses()).filter((p) => p.uuid === vmId.toLowerCase()).map((p) => p.pid);
}

/** Kills leftover QEMUs of these VMs (test clean-up when an assertion failed midway). */
export async function killQemusOf(vmIds: string[]): Promise<void> {
  for (const id of vmIds) {
    for (const pid of await qemuPidsFor(id)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
