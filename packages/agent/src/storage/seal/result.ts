import { SEAL_CHANGES, type SealChange } from '@vireo/agent-protocol';

/** The marker of the appliance's one result line on its serial console. */
export const RESULT_MARKER = 'VIREO-SEAL-RESULT ';
/** The longest result line accepted; the appliance's is ~120 bytes. */
export const MAX_RESULT_LINE = 1024;

/** What the appliance reported, validated. */
export type SealOutcome = { ok: true; root: string; changed: SealChange[] } | { ok: false; error: string };

const ERROR_CODE = /^[a-z][a-z0-9_]{0,39}$/;
const ROOT_DEVICE = /^vd[a-z][0-9]{0,3}$/;

/**
 * Parses the appliance's result line from its console output. The guest is hostile: the line is
 * bounded, parsed as JSON in a try, and only known fields of known shapes are kept. `undefined`
 * when no complete, valid line is there (yet).
 */
export function parseSealResult(console: string): SealOutcome | undefined {
  const at = console.lastIndexOf(`\n${RESULT_MARKER}`);
  if (at < 0) return undefined;
  const start = at + 1 + RESULT_MARKER.length;
  const end = console.indexOf('\n', start);
  if (end < 0 || end - start > MAX_RESULT_LINE) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(console.slice(start, end).trim());
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (v.ok === false) {
    return typeof v.error === 'string' && ERROR_CODE.test(v.error)
      ? { ok: false, error: v.error }
      : undefined;
  }
  if (v.ok !== true || typeof v.root !== 'string' || !ROOT_DEVICE.test(v.root)) return undefined;
  if (!Array.isArray(v.changed) || v.changed.length > SEAL_CHANGES.length) return undefined;
  const changed: SealChange[] = [];
  for (const c of v.changed) {
    if (!(SEAL_CHANGES as readonly unknown[]).includes(c) || changed.includes(c as SealChange))
      return undefined;
    changed.push(c as SealChange);
  }
  return { ok: true, root: v.root, changed };
}
