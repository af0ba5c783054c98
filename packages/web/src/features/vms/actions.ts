import type { Vm } from '@vireo/client';
import { api } from '../../api';
import type { ObjectAction } from '../common/actions';

const power = (
  action: string,
  titleId: string,
  enabledIn: string[],
  extra: Partial<ObjectAction<Vm>> = {},
): ObjectAction<Vm> => ({
  id: action,
  titleId,
  isDisabled: (vm) => !enabledIn.includes(vm.state),
  run: (vm) => api.action(`/vms/${vm.id}`, action),
  ...extra,
});

/** A VM's power actions and delete, enabled by its state (the engine checks again). */
export const VM_ACTIONS: ObjectAction<Vm>[] = [
  power('start', 'vm.action.start', ['down', 'unknown']),
  power('shutdown', 'vm.action.shutdown', ['up']),
  power('stop', 'vm.action.stop', ['up', 'paused', 'starting', 'powering_down', 'unknown'], {
    danger: true,
    confirm: true,
  }),
  power('reboot', 'vm.action.reboot', ['up']),
  power('suspend', 'vm.action.suspend', ['up']),
  power('resume', 'vm.action.resume', ['paused']),
  {
    id: 'delete',
    titleId: 'vm.action.delete',
    danger: true,
    confirm: true,
    isDisabled: (vm) => vm.state !== 'down',
    run: (vm) => api.delete(`/vms/${vm.id}`),
  },
];

export const VM_BULK_ACTIONS = VM_ACTIONS.filter((a) =>
  ['start', 'shutdown', 'stop', 'delete'].includes(a.id),
);
