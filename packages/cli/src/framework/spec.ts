import type { Session } from './session';

/** Where the completer finds candidates for an argument or option value. */
export type CompletionSource =
  | { kind: 'resource'; resource: string }
  | { kind: 'values'; values: readonly string[] }
  | { kind: 'profiles' }
  | { kind: 'files' };

export interface ArgSpec {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
  complete?: CompletionSource;
}

export interface OptionSpec {
  /** Commander flags, e.g. `-d, --description <text>` or `--wait`. */
  flags: string;
  description: string;
  defaultValue?: unknown;
  /** Restricts the value to these words (validated and completed). */
  choices?: readonly string[];
  complete?: CompletionSource;
  /** Option may be given several times; values collect into an array. */
  repeatable?: boolean;
}

/** Parsed options: commander's camelCased keys. */
export type Options = Record<string, unknown>;

export interface CommandContext {
  session: Session;
  /** Positional arguments in declaration order (a variadic one is an array). */
  args: unknown[];
  opts: Options;
}

/**
 * One CLI command. Nouns group verbs (`datacenter list`); a command with a one-word path is a
 * top-level verb (`login`). Adding a command is adding one file exporting a spec and listing it
 * in commands/index.ts.
 */
export interface CommandSpec {
  path: readonly [string] | readonly [string, string];
  /** Other names for the last word of the path (`ls` for `list`). */
  aliases?: readonly string[];
  summary: string;
  args?: readonly ArgSpec[];
  options?: readonly OptionSpec[];
  /** Only offered inside `vireo shell` (connect, disconnect, exit). */
  shellOnly?: boolean;
  /** Not offered inside `vireo shell` (shell itself, completion scripts). */
  notInShell?: boolean;
  /** Left out of help and completion (`__complete`). */
  hidden?: boolean;
  /** Returns the exit code (default 0). */
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** A noun grouping verbs, with its aliases (`dc` for `datacenter`). */
export interface NounSpec {
  name: string;
  aliases?: readonly string[];
  summary: string;
}
