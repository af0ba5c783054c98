import { optValue } from './escape';
import type { LaunchPlan } from './types';

/**
 * The QMP control socket. `wait=off`: QEMU starts without waiting for a client (it is paused by `-S`
 * anyway), and the agent connects when it is ready.
 */
export function qmpArgs(plan: LaunchPlan): string[] {
  return ['-qmp', `unix:${optValue(plan.paths.qmpSocket, '/paths/qmpSocket')},server=on,wait=off`];
}
