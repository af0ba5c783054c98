import { parseArgs } from 'node:util';

/** A usage mistake: printed with the command's help, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

/** `node:util` parseArgs with usage errors turned into `UsageError`. */
export function parse<O extends Record<string, OptionSpec>>(
  args: string[],
  options: O,
): {
  values: {
    [K in keyof O]?: O[K]['type'] extends 'boolean'
      ? boolean
      : O[K]['multiple'] extends true
        ? string[]
        : string;
  };
  positionals: string[];
} {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as never, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Options every command that reads the agent's config accepts. */
export const CONFIG_OPTIONS = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  listen: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'log-level': { type: 'string' },
} as const;
