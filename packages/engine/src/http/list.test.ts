import { describe, expect, it } from 'vitest';
import { VireoError } from '../errors';
import { decodeCursor, encodeCursor, pageRequest } from './list';

const ID = '0b7e1c52-4f1d-4d3a-9a55-7d8f6a1b2c3d';
const COLUMNS = { name: 'text', created_at: 'timestamptz' } as const;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof VireoError ? err.code : `not a VireoError: ${String(err)}`;
  }
  return undefined;
}

describe('list cursors', () => {
  it('round-trips a position and keeps it opaque (base64url only)', () => {
    const c = encodeCursor('-name', { key: 'web "01"/ü', id: ID });
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c, '-name', 'text')).toEqual({ key: 'web "01"/ü', id: ID });
    const t = encodeCursor('created_at', { key: '2026-01-02 03:04:05.123456+00', id: ID });
    expect(decodeCursor(t, 'created_at', 'timestamptz').key).toBe('2026-01-02 03:04:05.123456+00');
  });

  it.each([
    ['not base64url', '$$$', 'name', 'text'],
    ['not JSON', Buffer.from('{').toString('base64url'), 'name', 'text'],
    ['JSON null', Buffer.from('null').toString('base64url'), 'name', 'text'],
    ['missing id', Buffer.from(JSON.stringify({ s: 'name', k: 'a' })).toString('base64url'), 'name', 'text'],
    ['another sort', encodeCursor('name', { key: 'a', id: ID }), '-name', 'text'],
    ['NUL in key', encodeCursor('name', { key: 'a\u0000', id: ID }), 'name', 'text'],
    ['bad timestamp', encodeCursor('created_at', { key: 'now()', id: ID }), 'created_at', 'timestamptz'],
  ] as const)('rejects a cursor that is %s', (_why, cursor, sort, type) => {
    expect(codeOf(() => decodeCursor(cursor, sort, type))).toBe('invalid_cursor');
  });

  it('checks sort against the allow-list, inherited properties included', () => {
    expect(pageRequest({ sort: '-created_at' }, COLUMNS)).toMatchObject({
      sort: { field: 'created_at', desc: true },
      limit: 50,
    });
    for (const sort of ['password', '--name', 'constructor', '__proto__', '-', '']) {
      expect(
        codeOf(() => pageRequest({ sort }, COLUMNS)),
        sort,
      ).toBe('invalid_sort');
    }
  });
});
