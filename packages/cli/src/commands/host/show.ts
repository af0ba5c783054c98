import { showCommand } from '../common/crud';
import { hostKind } from '../common/kinds';

export const hostShow = showCommand(hostKind);
