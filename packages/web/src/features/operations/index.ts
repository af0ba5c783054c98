export { OperationsButton, OperationRow } from './OperationsDrawer';
export { OperationProgress, type OperationProgressProps } from './OperationProgress';
