export { ApiError, type ClientErrorCode, isAbortError, VireoClientError } from './errors';
export {
  type ApiResponse,
  extractOperation,
  type FetchLike,
  type FetchResponse,
  type RequestOptions,
  VireoClient,
  type VireoClientOptions,
} from './client';
export {
  type EphemeralFrame,
  EventsApi,
  isEphemeral,
  operationProgressOf,
  type StreamEventsOptions,
  streamEvents,
} from './events';
export {
  type HostNfsAccess,
  type HostSealing,
  type HostStorageAbilities,
  hostStorageAbilities,
} from './host-storage';
export { isTerminal, OperationsApi, type WaitOptions, waitForOperation } from './operations';
export { isUuid, ResourceApi, type Versioned } from './resources';
export { type SseMessage, SseParser } from './sse';
export {
  cancelTransfer,
  createTransfer,
  DEFAULT_CHUNK_BYTES,
  type DownloadImageOptions,
  downloadImage,
  finalizeTransfer,
  getTransfer,
  putChunk,
  sha256File,
  type UploadImageOptions,
  uploadImage,
} from './transfers';
export {
  type ApiErrorBody,
  type Cluster,
  type ConsoleTicket,
  type DataCenter,
  type Health,
  type Host,
  type Identity,
  type JoinToken,
  type ListQuery,
  type LoginResult,
  type MutationResult,
  type Operation,
  type OperationProgressFrame,
  type OperationState,
  type Page,
  type Resource,
  TERMINAL_OPERATION_STATES,
  type VireoEvent,
  type Vm,
} from './types';
export { API_PREFIX, normalizeBaseUrl } from './url';
