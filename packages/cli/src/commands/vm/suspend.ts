import { vmActionCommand } from './action';

export const vmSuspend = vmActionCommand('suspend', "pause a VM's CPUs");
