/**
 * Text helpers for terminal output. Values come from the engine and ultimately from users, so
 * control characters are escaped before they reach a terminal (an object name holding an escape
 * sequence must not be able to rewrite the screen).
 */

// C0 controls (tab and newline included: a cell is one line), DEL and C1 controls.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function sanitize(value: string): string {
  return value.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** Display width: code points, counting East Asian wide and emoji as two columns. */
export function displayWidth(value: string): number {
  let w = 0;
  for (const ch of value) w += charWidth(ch.codePointAt(0) ?? 0);
  return w;
}

function charWidth(cp: number): number {
  if (cp === 0) return 0;
  if (cp >= 0x300 && cp <= 0x36f) return 0; // combining marks
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Cuts `value` to `width` columns, ending in `…` when it was cut. */
export function truncate(value: string, width: number): string {
  if (displayWidth(value) <= width) return value;
  if (width <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of value) {
    const cw = charWidth(ch.codePointAt(0) ?? 0);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/** Pads to `width` columns (left-aligned unless `right`). */
export function pad(value: string, width: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(value)));
  return right ? fill + value : value + fill;
}

/** Splits into lines of at most `width` columns, breaking at spaces where possible. */
export function wrap(value: string, width: number): string[] {
  if (width <= 0) return [value];
  const lines: string[] = [];
  let rest = value;
  while (displayWidth(rest) > width) {
    let cut = '';
    let w = 0;
    for (const ch of rest) {
      const cw = charWidth(ch.codePointAt(0) ?? 0);
      if (w + cw > width) break;
      cut += ch;
      w += cw;
    }
    // Break at the last blank unless the cut already ends at a word boundary.
    const space = cut.lastIndexOf(' ');
    const atBoundary = rest[cut.length] === ' ';
    if (!atBoundary && space > 0 && space >= cut.length / 3) cut = cut.slice(0, space + 1);
    lines.push(cut.trimEnd());
    rest = rest.slice(cut.length).trimStart();
  }
  lines.push(rest);
  return lines;
}

/** Renders a scalar for a table cell. */
export function cell(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'string') return sanitize(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value))
    return value.length === 0
      ? '-'
      : sanitize(value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', '));
  return sanitize(JSON.stringify(value));
}
