import { invalidPlan } from './errors';
import { headed, optValue } from './escape';
import type { LaunchPlan } from './types';

/**
 * No local display ever (`-display none`); VNC when the spec asks for it, always on loopback (the
 * engine's console proxy is the only way in) and with password authentication, so nobody can log in
 * until the agent sets a one-time password over QMP. The WebSocket listener is bound explicitly:
 * `websocket=on` would listen on every interface.
 */
export function displayArgs(plan: LaunchPlan): string[] {
  const args = ['-display', 'none'];
  if (!plan.spec.display.vnc) return args;
  if (plan.vnc) {
    const { display, websocketPort } = plan.vnc;
    if (!Number.isInteger(display) || display < 0 || display > 59635) {
      throw invalidPlan(
        '/vnc/display',
        'VNC display must be an integer from 0 to 59635 (port 5900 + display)',
      );
    }
    if (!Number.isInteger(websocketPort) || websocketPort < 1 || websocketPort > 65535) {
      throw invalidPlan('/vnc/websocketPort', 'WebSocket port must be an integer from 1 to 65535');
    }
    args.push(
      '-vnc',
      headed(`127.0.0.1:${display}`, ['websocket', `127.0.0.1:${websocketPort}`], ['password', true]),
    );
  } else if (plan.paths.vncSocket) {
    args.push(
      '-vnc',
      headed(`unix:${optValue(plan.paths.vncSocket, '/paths/vncSocket')}`, ['password', true]),
    );
  } else {
    throw invalidPlan('/vnc', 'the spec asks for VNC but the plan has neither a VNC port nor a VNC socket');
  }
  // A standard VGA adapter for the picture, and a USB tablet so the pointer is absolute (no drift
  // between the browser's cursor and the guest's).
  args.push(
    '-device',
    headed('VGA', ['id', 'video0']),
    '-device',
    headed('qemu-xhci', ['id', 'usb0']),
    '-device',
    headed('usb-tablet', ['id', 'tablet0'], ['bus', 'usb0.0']),
  );
  return args;
}
