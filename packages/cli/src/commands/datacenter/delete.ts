import { deleteCommand } from '../common/crud';
import { datacenterKind } from '../common/kinds';

export const datacenterDelete = deleteCommand(datacenterKind);
