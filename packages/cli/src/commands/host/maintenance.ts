import { hostActionCommand } from './action';

export const hostMaintenance = hostActionCommand(
  'maintenance',
  'put a host in maintenance (no new VMs; done once it runs none)',
);
