import { hostActionCommand } from './action';

export const hostActivate = hostActionCommand('activate', 'bring a host back from maintenance');
