import { vmActionCommand } from './action';

export const vmResume = vmActionCommand('resume', 'resume a paused VM');
