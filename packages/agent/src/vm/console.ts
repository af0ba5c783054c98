import { randomInt } from 'node:crypto';
import type { VmConsoleParams, VmConsoleResult } from '@vireo/agent-protocol';
import { AgentError } from '../util/errors';
import type { VmRuntime } from './runtime';
import type { ManagedVm } from './vm';

/** Default lifetime of a VNC password: long enough to open a console, short enough to be useless later. */
const DEFAULT_VALID_S = 120;
// No look-alikes (0/O, 1/l/I): people sometimes type these.
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** Eight random characters: all that VNC authentication looks at. */
export function generateVncPassword(): string {
  let out = '';
  for (let i = 0; i < 8; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/**
 * Opens console access. VNC: sets a password over QMP (never on argv, never logged) that expires
 * after `valid_s`, and returns the loopback endpoint. Serial: returns the socket and log paths.
 */
export async function consoleFor(
  rt: VmRuntime,
  vm: ManagedVm,
  params: VmConsoleParams,
): Promise<VmConsoleResult> {
  rt.requireState(vm, ['up', 'paused', 'powering_down', 'crashed'], 'open a console on');
  const info = vm.info();
  if (params.type === 'serial') {
    if (!info.serial) throw unavailable(vm, 'the VM has no serial console');
    return { type: 'serial', endpoint: info.serial };
  }
  if (!info.vnc) throw unavailable(vm, 'the VM has no VNC display');
  const qmp = rt.requireQmp(vm);
  const password = params.password ?? generateVncPassword();
  const validS = params.valid_s ?? DEFAULT_VALID_S;
  await qmp.execute('set_password', { protocol: 'vnc', password });
  await qmp.execute('expire_password', { protocol: 'vnc', time: `+${validS}` });
  return {
    type: 'vnc',
    endpoint: info.vnc,
    password,
    expires_at: new Date(Date.now() + validS * 1000).toISOString(),
  };
}

function unavailable(vm: ManagedVm, why: string): AgentError {
  return new AgentError('console_unavailable', `VM ${vm.name ?? vm.id}: ${why}`, {
    details: { vm_id: vm.id },
  });
}
