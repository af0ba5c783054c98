import { describe, expect, it } from 'vitest';
import { parseSet, parseTimeout } from './mutation';

describe('parseSet', () => {
  it('parses JSON values, keeps other text as strings and nests dotted fields', () => {
    expect(
      parseSet([
        'cpus=2',
        'ha=true',
        'name=web 1',
        'tags=["a"]',
        'console.kind=vnc',
        'console.port=5900',
        'x=',
      ]),
    ).toEqual({
      cpus: 2,
      ha: true,
      name: 'web 1',
      tags: ['a'],
      console: { kind: 'vnc', port: 5900 },
      x: '',
    });
    expect(parseSet(undefined)).toEqual({});
  });

  it('rejects malformed assignments as usage errors', () => {
    for (const bad of ['novalue', '=x', 'Bad=1', 'a..b=1']) {
      expect(() => parseSet([bad])).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
    expect(() => parseSet(['a=1', 'a.b=2'])).toThrow(/already a value/);
  });

  it('validates --timeout', () => {
    expect(parseTimeout('1.5')).toBe(1500);
    expect(parseTimeout(undefined)).toBeUndefined();
    expect(() => parseTimeout('soon')).toThrow(/positive number/);
  });
});
