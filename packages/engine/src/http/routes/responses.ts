import { type TSchema, Type } from '@sinclair/typebox';
import { ErrorBody } from '@vireo/api';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request (`invalid_input`, `invalid_json`, `invalid_cursor`, `invalid_sort`, …)',
  401: 'Missing, invalid or expired credentials',
  403: 'Not allowed (`forbidden`, `csrf_header_required`)',
  404: 'No such object',
  409: 'Conflicts with the current state (name taken, not empty)',
  412: 'If-Match does not match the current ETag (`etag_mismatch`)',
  413: 'Request body too large',
  415: 'Request body is not JSON',
  428: 'If-Match is required (`precondition_required`)',
  429: 'Too many attempts; see Retry-After',
};

/** Error answers for route schemas, so OpenAPI documents them and they serialize fast. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of statuses) out[s] = Type.Ref(ErrorBody, { description: ERROR_DESCRIPTIONS[s] ?? 'Error' });
  return out;
}

/** Statuses every authenticated route may answer. */
export const AUTHED = [400, 401, 403] as const;
