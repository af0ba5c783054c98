import { invalidPlan } from './errors';
import { assertPrintable, headed, opts } from './escape';
import type { LaunchPlan } from './types';

/** Seccomp filters QEMU can apply when it daemonizes itself (its fork and setsid run after them). */
export const SANDBOX_DAEMONIZED = 'on,obsolete=deny,resourcecontrol=deny';
/** The full filter set, for a QEMU the caller detaches itself (`daemonize: false`). */
export const SANDBOX_FULL = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** Who this QEMU is: name (thread names too, for `top -H`), UUID, timestamps on its messages. */
export function identityArgs(plan: LaunchPlan): string[] {
  return [
    '-name',
    opts(['guest', plan.spec.name, '/spec/name'], ['debug-threads', true]),
    '-uuid',
    plan.spec.id,
    '-msg',
    'timestamp=on',
  ];
}

/**
 * Start-up shape: no host config files, no default devices, paused (`-S`) until the agent has set
 * passwords and the like, and kept alive after a guest shutdown (`-no-shutdown`) so the agent can
 * read the final state before it quits QEMU.
 */
export function processArgs(plan: LaunchPlan): string[] {
  const args = ['-no-user-config', '-nodefaults', '-S', '-no-shutdown'];
  if (plan.daemonize !== false) args.push('-daemonize');
  // -pidfile takes its argument verbatim.
  args.push('-pidfile', assertPrintable(plan.paths.pidfile, '/paths/pidfile'));
  if (plan.sandbox) args.push('-sandbox', plan.daemonize === false ? SANDBOX_FULL : SANDBOX_DAEMONIZED);
  return args;
}

/** Guest clock: UTC, except Windows, which expects the RTC in local time. */
export function clockArgs(plan: LaunchPlan): string[] {
  const windows = plan.spec.os_type?.startsWith('windows') ?? false;
  return ['-rtc', opts(['base', windows ? 'localtime' : 'utc'], ['driftfix', windows ? 'slew' : undefined])];
}

/** A virtio RNG fed from the host's urandom: guests otherwise stall at boot waiting for entropy. */
export function rngArgs(): string[] {
  return [
    '-object',
    headed('rng-random', ['id', 'rng0'], ['filename', '/dev/urandom']),
    '-device',
    headed('virtio-rng-pci', ['rng', 'rng0'], ['id', 'rng0-dev']),
  ];
}

const INCOMING = /^(defer|tcp:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}|unix:\/[^,\s]+)$/;

/** `-incoming` for the destination of a live migration. */
export function incomingArgs(plan: LaunchPlan): string[] {
  if (plan.incoming === undefined) return [];
  if (!INCOMING.test(plan.incoming)) {
    throw invalidPlan('/incoming', 'incoming must be "defer", "tcp:HOST:PORT" or "unix:/PATH"');
  }
  return ['-incoming', plan.incoming];
}
