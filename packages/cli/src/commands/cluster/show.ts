import { showCommand } from '../common/crud';
import { clusterKind } from '../common/kinds';

export const clusterShow = showCommand(clusterKind);
