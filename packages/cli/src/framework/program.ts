import { Command, CommanderError, Option } from 'commander';
import { describeError, ExitCode } from './errors';
import type { Session } from './session';
import type { CommandSpec, NounSpec, OptionSpec } from './spec';
import { CLI_VERSION } from './session';

/** All nouns and commands the CLI knows. */
export interface Registry {
  nouns: readonly NounSpec[];
  commands: readonly CommandSpec[];
}

/** Global options, accepted before or after the command words. */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--profile <name>',
    description: 'profile to use (default: $VIREO_PROFILE, else the current one)',
    complete: { kind: 'profiles' },
  },
  {
    flags: '-o, --output <format>',
    description: 'output format',
    choices: ['table', 'json', 'yaml'],
    defaultValue: 'table',
  },
];

/** Commands available in this mode (one-shot or shell). */
export function visibleCommands(registry: Registry, inShell: boolean): CommandSpec[] {
  return registry.commands.filter((c) => (inShell ? !c.notInShell : !c.shellOnly));
}

export function toOption(spec: OptionSpec): Option {
  const opt = new Option(spec.flags, spec.description);
  if (spec.choices) opt.choices(spec.choices);
  if (spec.defaultValue !== undefined) opt.default(spec.defaultValue);
  if (spec.repeatable)
    opt.argParser((value: string, previous: unknown) => [
      ...((previous as string[] | undefined) ?? []),
      value,
    ]);
  return opt;
}

function configure(cmd: Command, session: Session): Command {
  return cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => session.io.stdout.write(s),
      writeErr: (s) => session.io.stderr.write(s),
      outputError: (s, write) => write(`Error [usage_error]: ${s.replace(/^error: /, '')}`),
    });
}

/**
 * Builds a fresh commander program for one command line. The shell builds one per line, so no
 * parsed state leaks from one command into the next.
 */
export function buildProgram(session: Session, registry: Registry, onExit: (code: number) => void): Command {
  const program = configure(new Command('vireo'), session)
    .description('Vireo command-line client: manage data centers, clusters, hosts, storage and VMs')
    .version(CLI_VERSION, '-V, --version', 'print the CLI version');
  for (const o of GLOBAL_OPTIONS) program.addOption(toOption(o));
  const commands = visibleCommands(registry, session.inShell);
  const nounCommands = new Map<string, Command>();
  for (const noun of registry.nouns) {
    if (!commands.some((c) => c.path.length === 2 && c.path[0] === noun.name)) continue;
    const cmd = configure(program.command(noun.name), session).description(noun.summary);
    if (noun.aliases) cmd.aliases([...noun.aliases]);
    nounCommands.set(noun.name, cmd);
  }
  for (const spec of commands) {
    const parent = spec.path.length === 2 ? nounCommands.get(spec.path[0]) : program;
    if (!parent) throw new Error(`command ${spec.path.join(' ')} has no noun registered`);
    const name = spec.path[spec.path.length - 1]!;
    const cmd = configure(parent.command(name, { hidden: spec.hidden }), session).description(spec.summary);
    if (spec.aliases) cmd.aliases([...spec.aliases]);
    for (const a of spec.args ?? []) {
      const label = `${a.name}${a.variadic ? '...' : ''}`;
      cmd.argument(a.required ? `<${label}>` : `[${label}]`, a.description);
    }
    for (const o of spec.options ?? []) cmd.addOption(toOption(o));
    cmd.action(async function (this: Command) {
      const code = await spec.run({ session, args: this.processedArgs, opts: this.optsWithGlobals() });
      onExit(code ?? 0);
    });
  }
  return program;
}

/** Runs one command line (words without the program name) and returns its exit code. */
export async function runArgv(
  argv: readonly string[],
  session: Session,
  registry: Registry,
): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(session, registry, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const r = describeError(err);
    session.info(`Error [${r.code}]: ${r.message}`);
    return r.exitCode;
  }
}
