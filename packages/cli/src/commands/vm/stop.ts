import { vmActionCommand } from './action';

export const vmStop = vmActionCommand('stop', 'power a VM off at once');
