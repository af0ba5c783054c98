import { headed } from './escape';
import { SERIAL_CHARDEV_ID } from './names';
import type { LaunchPlan } from './types';

/**
 * The serial console: a listening unix socket the console proxy connects to, plus a log file that
 * keeps recording while nobody is attached (`wait=off`: QEMU does not block waiting for a client).
 */
export function serialArgs(plan: LaunchPlan): string[] {
  if (!plan.spec.serial) return [];
  return [
    '-chardev',
    headed(
      'socket',
      ['id', SERIAL_CHARDEV_ID],
      ['path', plan.paths.serialSocket, '/paths/serialSocket'],
      ['server', true],
      ['wait', false],
      ['logfile', plan.paths.serialLog, '/paths/serialLog'],
    ),
    '-serial',
    `chardev:${SERIAL_CHARDEV_ID}`,
  ];
}
