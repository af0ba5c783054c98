import { describe, expect, it } from 'vitest';
import { isIncomplete, parseScript, quoteWord, scan, tokenize } from './tokenizer';

describe('tokenize', () => {
  it('splits like a shell: quotes, escapes, comments', () => {
    expect(tokenize(`datacenter create dc1 -d "my \\"big\\" one" --set 'a=b c'`)).toEqual([
      'datacenter',
      'create',
      'dc1',
      '-d',
      'my "big" one',
      '--set',
      'a=b c',
    ]);
    expect(tokenize(`a\\ b c#d # comment here`)).toEqual(['a b', 'c#d']);
    expect(tokenize(`x '' "" y`)).toEqual(['x', '', '', 'y']);
    expect(tokenize(`'$HOME' "\\$x \\q"`)).toEqual(['$HOME', '$x \\q']);
    expect(tokenize('   # only a comment')).toEqual([]);
    expect(tokenize('it"s"\'ok\'')).toEqual(['itsok']);
  });

  it('rejects unterminated quotes and reports continuation', () => {
    expect(() => tokenize(`a "b`)).toThrow(/unterminated double quote/);
    expect(() => tokenize(`a 'b`)).toThrow(/unterminated single quote/);
    expect(isIncomplete('a \\')).toBe(true);
    expect(isIncomplete(`a 'b`)).toBe(true);
    expect(isIncomplete('a b')).toBe(false);
  });
});

describe('scan (for completion)', () => {
  it('separates finished words from the one under the cursor', () => {
    expect(scan('datacenter show pro')).toMatchObject({
      words: ['datacenter', 'show'],
      current: 'pro',
      start: 16,
    });
    expect(scan('datacenter show ')).toMatchObject({ words: ['datacenter', 'show'], current: '', start: 16 });
    expect(scan(`dc show 'my d`)).toMatchObject({ words: ['dc', 'show'], current: 'my d', openQuote: "'" });
  });
});

describe('parseScript', () => {
  it('keeps line numbers, joins continued lines and skips comments', () => {
    const script = [
      '# set up',
      '',
      'datacenter create a \\',
      '  -d "two',
      'lines"',
      'datacenter list  # all',
    ].join('\n');
    expect(parseScript(script)).toEqual([
      { line: 3, words: ['datacenter', 'create', 'a', '-d', 'two\nlines'] },
      { line: 6, words: ['datacenter', 'list'] },
    ]);
    expect(() => parseScript('a "b\nc')).toThrow(/line 1/);
  });
});

describe('quoteWord', () => {
  it('quotes only when needed and round-trips', () => {
    expect(quoteWord('dc-1.prod')).toBe('dc-1.prod');
    for (const w of ["it's", 'a b', '', '$x']) expect(tokenize(quoteWord(w))).toEqual([w]);
  });
});
