import { showCommand } from '../common/crud';
import { vmKind } from '../common/kinds';

export const vmShow = showCommand(vmKind);
