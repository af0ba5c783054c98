import { vmActionCommand } from './action';

export const vmShutdown = vmActionCommand('shutdown', 'ask the guest to power off (ACPI)');
