import { join } from 'node:path';
import type { LaunchPaths } from '../qemu/argv';

/**
 * Layout of a VM's state directory `<state>/vms/<id>/`. QEMU's sockets live here too, so the whole
 * path must fit a unix socket address (108 bytes): `checkStateDirLength` guards the agent's config.
 */
export interface VmPaths extends LaunchPaths {
  dir: string;
  /** The spec the VM runs with (rewritten by hot-plug and CD changes). */
  spec: string;
  /** What this launch decided on the host (pid start time, VNC ports, taps it created). */
  runtime: string;
  /** `<agent id>`: proves this agent made the directory. */
  owner: string;
  /** QEMU's stderr (start-up errors, later warnings). */
  qemuLog: string;
}

export function vmsDir(stateDir: string): string {
  return join(stateDir, 'vms');
}

export function vmPaths(stateDir: string, vmId: string): VmPaths {
  const dir = join(vmsDir(stateDir), vmId);
  return {
    dir,
    spec: join(dir, 'spec.json'),
    runtime: join(dir, 'runtime.json'),
    owner: join(dir, 'owner'),
    qemuLog: join(dir, 'qemu.log'),
    qmpSocket: join(dir, 'qmp.sock'),
    serialSocket: join(dir, 'serial.sock'),
    serialLog: join(dir, 'serial.log'),
    pidfile: join(dir, 'qemu.pid'),
  };
}

/** Longest unix socket path Linux accepts (`sun_path` is 108 bytes including the NUL). */
const MAX_SOCKET_PATH = 107;

/** Throws when sockets under this state directory would not fit a unix socket address. */
export function checkStateDirLength(stateDir: string): void {
  const longest = vmPaths(stateDir, '00000000-0000-0000-0000-000000000000').serialSocket;
  if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
    throw new Error(
      `state directory ${stateDir} is too long: VM sockets under it would exceed ${MAX_SOCKET_PATH} bytes`,
    );
  }
}
