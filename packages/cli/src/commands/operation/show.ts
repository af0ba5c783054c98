import { showCommand } from '../common/crud';
import { operationKind } from '../common/kinds';

export const operationShow = showCommand(operationKind);
