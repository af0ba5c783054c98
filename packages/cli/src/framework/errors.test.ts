import { ApiError, VireoClientError } from '@vireo/client';
import { describe, expect, it } from 'vitest';
import { CliError, describeError } from './errors';

describe('describeError', () => {
  it('maps API and client errors to documented exit codes', () => {
    const cases: [unknown, number][] = [
      [new ApiError(409, 'datacenter_name_taken', 'taken'), 1],
      [new ApiError(400, 'invalid_input', 'bad'), 1],
      [new ApiError(404, 'route_not_found', 'no'), 3],
      [new ApiError(409, 'cluster_not_found', 'no'), 3],
      [new ApiError(401, 'invalid_credentials', 'wrong'), 4],
      [new ApiError(403, 'forbidden', 'no'), 4],
      [new ApiError(429, 'too_many_login_attempts', 'wait'), 4],
      [new VireoClientError('tls_error', 'tls'), 6],
      [new VireoClientError('connection_failed', 'refused'), 6],
      [new VireoClientError('operation_timeout', 'slow'), 7],
      [new VireoClientError('aborted', 'stop'), 130],
      [new CliError('x', 'y', 5), 5],
      [new Error('boom'), 1],
    ];
    for (const [err, code] of cases) expect(describeError(err).exitCode, String(err)).toBe(code);
  });

  it('keeps the engine code and adds a hint only for dead tokens', () => {
    expect(describeError(new ApiError(401, 'token_expired', 'expired'))).toEqual({
      code: 'token_expired',
      message: 'expired (log in again: vireo login)',
      exitCode: 4,
    });
    expect(describeError(new ApiError(401, 'invalid_credentials', 'wrong')).message).toBe('wrong');
  });
});
