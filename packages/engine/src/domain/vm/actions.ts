import type { VmAction, VmDesiredState } from '@vireo/api';
import { Conflict } from '../../errors';

/** What a power action asks of a VM, and in which observed states it makes sense. */
interface ActionRule {
  /** The desired state the action writes. */
  desired: VmDesiredState;
  /** Observed states the action is accepted in. */
  from: readonly string[];
}

/**
 * Power actions as desired-state changes. `reboot` keeps `up` (the controller issues the reboot);
 * `stop` is accepted while a shutdown is under way, so a stuck guest can always be powered off.
 */
export const ACTION_RULES: Record<VmAction, ActionRule> = {
  start: { desired: 'up', from: ['down'] },
  shutdown: { desired: 'down', from: ['up', 'paused', 'starting'] },
  stop: { desired: 'down', from: ['up', 'paused', 'starting', 'powering_down', 'unknown'] },
  reboot: { desired: 'up', from: ['up'] },
  suspend: { desired: 'paused', from: ['up'] },
  resume: { desired: 'up', from: ['paused'] },
};

/**
 * Checks a power action against the VM's observed state.
 * @throws Conflict `vm_invalid_state` with the allowed states in details
 */
export function checkAction(vm: { id: string; name: string; state: string }, action: VmAction): ActionRule {
  const rule = ACTION_RULES[action];
  if (!rule.from.includes(vm.state)) {
    throw new Conflict('vm_invalid_state', `VM ${vm.name} cannot ${action} while it is ${vm.state}`, {
      details: { id: vm.id, state: vm.state, action, allowed_states: rule.from },
    });
  }
  return rule;
}

/** A VM can be deleted or re-placed only when it is down and meant to stay down. */
export function checkDown(vm: { id: string; name: string; state: string; desired_state: string }): void {
  if (vm.state !== 'down' || vm.desired_state !== 'down') {
    throw new Conflict('vm_not_down', `VM ${vm.name} is ${vm.state}; shut it down first`, {
      details: { id: vm.id, state: vm.state, desired_state: vm.desired_state },
    });
  }
}
