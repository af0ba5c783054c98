import { showCommand } from '../common/crud';
import { datacenterKind } from '../common/kinds';

export const datacenterShow = showCommand(datacenterKind);
