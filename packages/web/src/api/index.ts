export { api, browserFetch, fieldErrors, normalizeField, onUnauthenticated } from './client';
export {
  LiveContext,
  refresh,
  useApiMutation,
  useLiveEvents,
  useLiveList,
  useLiveObject,
  useLiveStatus,
} from './hooks';
export { type Collection, collectionOf, invalidationsFor, listKey, objectKey } from './keys';
export { type EventSource, type LiveStatus, LiveUpdates } from './live';
