export {
  DEFAULT_MAX_LINE_BYTES,
  QmpClient,
  type QmpConnectOptions,
  type QmpExecuteOptions,
  type QmpExecuteParams,
  type QmpWaitOptions,
} from './client';
export * from './commands';
export { QmpError, type QmpErrorCode, type QmpErrorDetails } from './errors';
