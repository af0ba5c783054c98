import { deleteCommand } from '../common/crud';
import { clusterKind } from '../common/kinds';

export const clusterDelete = deleteCommand(clusterKind);
