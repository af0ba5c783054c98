// @vitest-environment jsdom
import { ApiError } from '@vireo/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { browserFetch, fieldErrors, normalizeField, onUnauthenticated } from './client';

describe('fieldErrors (API error → form field messages)', () => {
  it('maps schema failures by their JSON pointer to dotted form paths', () => {
    const err = new ApiError(400, 'invalid_input', 'invalid body field /name: must match pattern', {
      errors: [
        { in: 'body', path: '/name', message: 'must match pattern "^[a-z]"' },
        { in: 'body', path: '/disks/0/size_gib', message: 'must be >= 1' },
        { in: 'query', path: '/limit', message: 'must be integer' },
      ],
    });
    expect(fieldErrors(err)).toEqual({
      name: 'must match pattern "^[a-z]"',
      'disks.0.size_gib': 'must be >= 1',
    });
  });

  it('maps a service error naming one field, with the error message when no reason is given', () => {
    const err = new ApiError(409, 'vm_name_taken', 'a VM named web1 already exists', { field: 'name' });
    expect(fieldErrors(err)).toEqual({ name: 'a VM named web1 already exists' });
  });

  it('maps `fields` given as a list or as an object', () => {
    const list = new ApiError(400, 'invalid_input', 'bad', {
      fields: [{ field: 'memory_mib', message: 'too small' }, 'cpus'],
    });
    expect(fieldErrors(list)).toEqual({ memory_mib: 'too small', cpus: 'bad' });
    const obj = new ApiError(400, 'invalid_input', 'bad', { fields: { 'nics[1].mac': 'not a MAC' } });
    expect(fieldErrors(obj)).toEqual({ 'nics.1.mac': 'not a MAC' });
  });

  it('keeps the first message when a field is named twice, and ignores non-API errors', () => {
    const err = new ApiError(400, 'invalid_input', 'x', {
      errors: [
        { in: 'body', path: '/name', message: 'first' },
        { in: 'body', path: '/name', message: 'second' },
      ],
    });
    expect(fieldErrors(err)).toEqual({ name: 'first' });
    expect(fieldErrors(new Error('network down'))).toEqual({});
    expect(fieldErrors(new ApiError(500, 'internal_error', 'boom'))).toEqual({});
  });

  it.each([
    ['/disks/0/size_gib', 'disks.0.size_gib'],
    ['disks[0].size_gib', 'disks.0.size_gib'],
    ['body.name', 'name'],
    ['name', 'name'],
  ])('normalizes %s', (input, expected) => {
    expect(normalizeField(input)).toBe(expected);
  });
});

describe('browserFetch', () => {
  afterEach(() => vi.restoreAllMocks());

  it('sends the session cookie and the CSRF header on every request', async () => {
    const base = vi.fn(async () => new Response('{}', { status: 200 }));
    await browserFetch(base as unknown as typeof fetch)('https://e/api/v1/vms', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    const init = (base.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect(init.credentials).toBe('include');
    expect(init.headers).toMatchObject({ 'x-vireo-csrf': '1', 'content-type': 'application/json' });
  });

  it('tells listeners about a 401, except for a failed login', async () => {
    const heard = vi.fn();
    const off = onUnauthenticated(heard);
    const base = vi.fn(async () => new Response('{}', { status: 401 }));
    const f = browserFetch(base as unknown as typeof fetch);
    await f('https://e/api/v1/auth/login', { method: 'POST' });
    expect(heard).not.toHaveBeenCalled();
    await f('https://e/api/v1/vms', { method: 'GET' });
    expect(heard).toHaveBeenCalledTimes(1);
    off();
    await f('https://e/api/v1/vms', { method: 'GET' });
    expect(heard).toHaveBeenCalledTimes(1);
  });
});
