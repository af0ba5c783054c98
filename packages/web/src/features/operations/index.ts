export { RECENT_QUERY, RUNNING_QUERY, useActiveOperations, useOperationOn } from './active';
export {
  OperationBar,
  type OperationBarProps,
  OperationProgress,
  type OperationProgressProps,
} from './OperationProgress';
export { OperationProgressFor, OperationRow, OperationsButton, OperationsList } from './OperationsDrawer';
