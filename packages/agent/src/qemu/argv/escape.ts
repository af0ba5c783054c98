import { invalidPlan, invalidSpec } from './errors';

// QEMU's option parsers have no escape for line breaks or NUL, and a newline in an argument is
// also how log injection starts: refuse every control character outright.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Throws unless `value` is free of control characters. `where` is a JSON pointer into the launch plan
 * (`/spec/disks/0/path`, `/paths/qmpSocket`): spec fields give `invalid_vm_spec` (path relative to the
 * spec), the rest `invalid_launch_plan`.
 */
export function assertPrintable(value: string, where: string): string {
  if (CONTROL_CHARS.test(value)) {
    const message = `${where} contains a control character (newline, NUL...)`;
    throw where.startsWith('/spec/')
      ? invalidSpec(where.slice('/spec'.length), message)
      : invalidPlan(where, message);
  }
  return value;
}

/**
 * A value inside a `key=value,key=value` QEMU option string. QEMU reads `,,` as a literal comma, so
 * a path such as `/images/a,b.qcow2` cannot smuggle in an extra option (`,file.locking=off`...).
 */
export function optValue(value: string, where: string): string {
  return assertPrintable(value, where).replaceAll(',', ',,');
}

/** One key=value pair list; `undefined` values are skipped so callers can write optional keys inline. */
export type OptPair = readonly [key: string, value: string | number | boolean | undefined, where?: string];

/**
 * Joins pairs into a QEMU option string, escaping every value. Booleans become `on`/`off`. Keys are
 * constants of this module's callers and are not escaped.
 */
export function opts(...pairs: OptPair[]): string {
  const parts: string[] = [];
  for (const [key, value, where] of pairs) {
    if (value === undefined) continue;
    const text = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
    parts.push(`${key}=${optValue(text, where ?? key)}`);
  }
  return parts.join(',');
}

/** `head,key=value,…`: for options whose first word is positional (`-device virtio-blk-pci,…`). */
export function headed(head: string, ...pairs: OptPair[]): string {
  const rest = opts(...pairs);
  return rest ? `${head},${rest}` : head;
}
