import { GLOBAL_OPTIONS, type Registry, visibleCommands } from '../framework/program';
import type { CommandSpec, CompletionSource, OptionSpec } from '../framework/spec';

/** Where dynamic candidates come from; failures must resolve to [] (completion never errors). */
export interface CompletionSources {
  /** Names (or ids, for id-only kinds) of objects of `resource` starting with `prefix`. */
  resourceNames(resource: string, prefix: string, profile: string | undefined): Promise<string[]>;
  profileNames(): string[];
  /** File names for `prefix` (the shell's own file completion is used when absent). */
  files?(prefix: string): string[];
}

interface ParsedOption {
  spec: OptionSpec;
  long: string | undefined;
  short: string | undefined;
  takesValue: boolean;
}

function parseFlags(spec: OptionSpec): ParsedOption {
  const long = /--[a-z0-9-]+/i.exec(spec.flags)?.[0];
  const short = /(?:^|[\s,])(-[a-zA-Z])\b/.exec(spec.flags)?.[1];
  return { spec, long, short, takesValue: /[<[]/.test(spec.flags) };
}

interface Walk {
  command: CommandSpec | undefined;
  noun: string | undefined;
  positionals: string[];
  /** The option whose value the current word is, if any. */
  valueFor: ParsedOption | undefined;
  profile: string | undefined;
}

function matches(name: string, aliases: readonly string[] | undefined, word: string): boolean {
  return name === word || (aliases ?? []).includes(word);
}

/** Interprets the finished words to know which command and which argument the cursor is at. */
function walk(words: readonly string[], registry: Registry, commands: CommandSpec[]): Walk {
  const result: Walk = {
    command: undefined,
    noun: undefined,
    positionals: [],
    valueFor: undefined,
    profile: undefined,
  };
  const globals = GLOBAL_OPTIONS.map(parseFlags);
  let endOfOptions = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const options = [...globals, ...(result.command?.options ?? []).map(parseFlags)];
    if (!endOfOptions && w === '--') {
      endOfOptions = true;
      continue;
    }
    if (!endOfOptions && w.startsWith('-') && w.length > 1) {
      const name = w.includes('=') ? w.slice(0, w.indexOf('=')) : w;
      const opt = options.find((o) => o.long === name || o.short === name);
      if (opt?.takesValue && !w.includes('=')) {
        if (i === words.length - 1) {
          result.valueFor = opt;
        } else if (opt.long === '--profile') {
          result.profile = words[i + 1];
        }
        i++;
      } else if (opt?.long === '--profile' && w.includes('=')) {
        result.profile = w.slice(w.indexOf('=') + 1);
      }
      continue;
    }
    if (!result.command) {
      if (!result.noun) {
        const single = commands.find((c) => c.path.length === 1 && matches(c.path[0], c.aliases, w));
        if (single) {
          result.command = single;
          continue;
        }
        const noun = registry.nouns.find((n) => matches(n.name, n.aliases, w));
        if (noun) {
          result.noun = noun.name;
          continue;
        }
      } else {
        const verb = commands.find(
          (c) => c.path.length === 2 && c.path[0] === result.noun && matches(c.path[1]!, c.aliases, w),
        );
        if (verb) {
          result.command = verb;
          continue;
        }
      }
      result.positionals.push(w); // unknown word: nothing sensible follows
      continue;
    }
    result.positionals.push(w);
  }
  return result;
}

async function fromSource(
  source: CompletionSource | undefined,
  prefix: string,
  sources: CompletionSources,
  profile: string | undefined,
): Promise<string[]> {
  if (!source) return [];
  switch (source.kind) {
    case 'values':
      return [...source.values];
    case 'profiles':
      return sources.profileNames();
    case 'files':
      return sources.files?.(prefix) ?? [];
    case 'resource':
      return sources.resourceNames(source.resource, prefix, profile);
  }
}

function optionSource(o: ParsedOption): CompletionSource | undefined {
  return o.spec.choices ? { kind: 'values', values: o.spec.choices } : o.spec.complete;
}

/**
 * Candidates for the word under the cursor. `words` are the finished words after `vireo`;
 * `current` is the (unquoted) partial word. Shared by `vireo shell` (Tab) and the bash/zsh
 * scripts (through `vireo __complete`).
 */
export async function complete(
  words: readonly string[],
  current: string,
  registry: Registry,
  sources: CompletionSources,
  inShell: boolean,
): Promise<string[]> {
  const commands = visibleCommands(registry, inShell).filter((c) => !c.hidden);
  const w = walk(words, registry, commands);
  const optionsHere = [...GLOBAL_OPTIONS, ...(w.command?.options ?? [])].map(parseFlags);
  let candidates: string[] = [];

  if (w.valueFor) {
    candidates = await fromSource(optionSource(w.valueFor), current, sources, w.profile);
  } else if (current.startsWith('--') && current.includes('=')) {
    const name = current.slice(0, current.indexOf('='));
    const opt = optionsHere.find((o) => o.long === name && o.takesValue);
    if (opt) {
      const values = await fromSource(optionSource(opt), current.slice(name.length + 1), sources, w.profile);
      candidates = values.map((v) => `${name}=${v}`);
    }
  } else if (current.startsWith('-')) {
    candidates = optionsHere.flatMap((o) => (o.long ? [o.long] : [])).concat('--help');
  } else if (!w.command && !w.noun) {
    const nouns = registry.nouns.filter((n) =>
      commands.some((c) => c.path.length === 2 && c.path[0] === n.name),
    );
    candidates = [
      ...nouns.map((n) => n.name),
      ...commands.filter((c) => c.path.length === 1).map((c) => c.path[0]),
    ];
    // An alias is offered only when the user is already typing it (`dc` but not `datacenter`).
    for (const n of nouns)
      for (const a of n.aliases ?? []) if (a.startsWith(current) && current !== '') candidates.push(a);
  } else if (!w.command) {
    candidates = commands.filter((c) => c.path.length === 2 && c.path[0] === w.noun).map((c) => c.path[1]!);
  } else {
    const args = w.command.args ?? [];
    const index = w.positionals.length;
    const arg = args[index] ?? (args.at(-1)?.variadic ? args.at(-1) : undefined);
    candidates = await fromSource(arg?.complete, current, sources, w.profile);
  }
  return [...new Set(candidates.filter((c) => c.startsWith(current)))].sort();
}
