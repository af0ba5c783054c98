import { datacenterKind } from '../common/kinds';
import { listCommand } from '../common/crud';

export const datacenterList = listCommand(datacenterKind);
