import { vmActionCommand } from './action';

export const vmReboot = vmActionCommand('reboot', 'reboot a VM');
