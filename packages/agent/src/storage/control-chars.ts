// QEMU options have no escape for control characters, and none belongs in a path: refuse them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** True when `value` contains a control character (newline, NUL, escape…). */
export function hasControlChars(value: string): boolean {
  return CONTROL_CHARS.test(value);
}
