import { vmActionCommand } from './action';

export const vmStart = vmActionCommand('start', 'start a VM (the engine picks a host)');
