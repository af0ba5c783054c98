/**
 * Splits a command line into words the way a POSIX shell does for simple commands: blanks
 * separate words; '…' is literal; "…" allows \" \\ \$ \` escapes; a backslash outside quotes
 * escapes the next character; `#` at the start of a word begins a comment. No expansion of
 * variables, globs or substitutions: the shell runs vireo commands, not programs.
 */

export class ShellSyntaxError extends Error {
  readonly code = 'syntax_error';
}

export interface PartialLine {
  /** Complete words before the one under the cursor. */
  words: string[];
  /** The word under the cursor, unquoted so far ('' after a blank). */
  current: string;
  /** Offset in the line where the current word starts (its raw text is line.slice(start)). */
  start: number;
  /** The quote still open at the end of the line, if any. */
  openQuote: "'" | '"' | undefined;
  /** The line ended with a backslash (continuation). */
  trailingEscape: boolean;
}

const BLANK = /[ \t\r\n]/;
const DQ_ESCAPABLE = new Set(['"', '\\', '$', '`', '\n']);

/** Scans a line; never throws, reports open quotes instead. */
export function scan(line: string): PartialLine {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let start = line.length;
  let quote: "'" | '"' | undefined;
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else cur += ch;
      i++;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < line.length && DQ_ESCAPABLE.has(line[i + 1]!)) {
        if (line[i + 1] !== '\n') cur += line[i + 1];
        i++;
      } else if (ch === '\\' && i + 1 === line.length) {
        return { words, current: cur, start, openQuote: quote, trailingEscape: true };
      } else cur += ch;
      i++;
      continue;
    }
    if (BLANK.test(ch)) {
      if (inWord) {
        words.push(cur);
        cur = '';
        inWord = false;
      }
      i++;
      continue;
    }
    if (!inWord) {
      if (ch === '#') break; // comment to end of line
      inWord = true;
      start = i;
    }
    if (ch === '\\') {
      if (i + 1 === line.length)
        return { words, current: cur, start, openQuote: undefined, trailingEscape: true };
      if (line[i + 1] !== '\n') cur += line[i + 1];
      i += 2;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else cur += ch;
    i++;
  }
  if (inWord && !quote) {
    return { words, current: cur, start, openQuote: undefined, trailingEscape: false };
  }
  return {
    words,
    current: cur,
    start: inWord ? start : line.length,
    openQuote: quote,
    trailingEscape: false,
  };
}

/** Splits a complete line into words; throws ShellSyntaxError on an unterminated quote. */
export function tokenize(line: string): string[] {
  const r = scan(line);
  if (r.openQuote)
    throw new ShellSyntaxError(`unterminated ${r.openQuote === '"' ? 'double' : 'single'} quote`);
  if (r.trailingEscape) throw new ShellSyntaxError('line ends with a backslash');
  const atWordEnd = r.start < line.length || r.current !== '';
  return atWordEnd ? [...r.words, r.current] : r.words;
}

/** True when the line continues on the next one (open quote or trailing backslash). */
export function isIncomplete(line: string): boolean {
  const r = scan(line);
  return r.openQuote !== undefined || r.trailingEscape;
}

/** A command of a script with the line it starts on (1-based). */
export interface ScriptCommand {
  line: number;
  words: string[];
}

/**
 * Splits a script into commands: one per line, continued across lines by a trailing backslash
 * or an open quote; blank lines and `#` comments skipped.
 */
export function parseScript(text: string): ScriptCommand[] {
  const lines = text.split(/\r?\n/);
  const out: ScriptCommand[] = [];
  let pending = '';
  let startLine = 0;
  lines.forEach((raw, index) => {
    if (pending === '') startLine = index + 1;
    const joined = pending === '' ? raw : `${pending}\n${raw}`;
    const r = scan(joined);
    if (r.openQuote !== undefined) {
      pending = joined;
      return;
    }
    if (r.trailingEscape) {
      pending = joined.slice(0, -1);
      return;
    }
    pending = '';
    const words = tokenize(joined);
    if (words.length > 0) out.push({ line: startLine, words });
  });
  if (pending !== '') {
    throw new ShellSyntaxError(
      `line ${startLine}: the command never ends (unterminated quote or trailing backslash)`,
    );
  }
  return out;
}

/** Quotes a word for display or for inserting into a command line. */
export function quoteWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
