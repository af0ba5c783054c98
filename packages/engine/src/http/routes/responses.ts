import { ErrorBody } from '@vireo/api';

/** Error answers for route schemas, so OpenAPI documents them and they serialize fast. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = {};
  for (const s of statuses) out[s] = ErrorBody;
  return out;
}

/** Statuses every authenticated route may answer. */
export const AUTHED = [400, 401, 403] as const;
