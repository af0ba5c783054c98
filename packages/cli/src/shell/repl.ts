import { appendFileSync, chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { complete } from '../completion/engine';
import { sessionSources } from '../completion/sources';
import { CliError, ExitCode } from '../framework/errors';
import { type Registry, runArgv } from '../framework/program';
import type { Session } from '../framework/session';
import { MutableOutput, NoPrompter, ShellPrompter } from '../io/prompt';
import { isIncomplete, parseScript, quoteWord, ShellSyntaxError, scan, tokenize } from './tokenizer';

export interface ShellOptions {
  /** Script file; without it, a terminal on stdin means interactive and anything else a script. */
  file?: string;
  continueOnError: boolean;
  profile?: string;
}

const HISTORY_LINES = 1000;

/** Runs `vireo shell`; returns the exit status. */
export async function runShell(session: Session, registry: Registry, options: ShellOptions): Promise<number> {
  session.inShell = true;
  if (options.profile) session.shellProfile = options.profile;
  if (options.file !== undefined || !session.io.stdin.isTTY) {
    let text: string;
    try {
      text =
        options.file !== undefined ? readFileSync(options.file, 'utf8') : await readStream(session.io.stdin);
    } catch (cause) {
      throw new CliError(
        'script_unreadable',
        `cannot read ${options.file ?? 'standard input'}`,
        ExitCode.usage,
        { cause },
      );
    }
    return runScript(session, registry, text, options);
  }
  return interactive(session, registry);
}

async function readStream(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Runs a script: one command per line (`#` comments, shell quoting, `\` continuation). Stops at
 * the first failing command with its exit status unless continueOnError; then the status is
 * the first failure's.
 */
export async function runScript(
  session: Session,
  registry: Registry,
  text: string,
  options: ShellOptions,
): Promise<number> {
  session.prompter = new NoPrompter();
  let commands: ReturnType<typeof parseScript>;
  try {
    commands = parseScript(text);
  } catch (err) {
    if (err instanceof ShellSyntaxError) {
      session.info(`Error [syntax_error]: ${err.message}`);
      return ExitCode.usage;
    }
    throw err;
  }
  let firstFailure = 0;
  for (const cmd of commands) {
    const code = await runOne(session, registry, cmd.words);
    if (session.exitRequested !== undefined) return firstFailure || session.exitRequested;
    if (code !== 0) {
      const where = options.file ? `${options.file}:${cmd.line}` : `line ${cmd.line}`;
      if (!options.continueOnError) {
        session.info(`stopped at ${where} (exit status ${code})`);
        return code;
      }
      session.info(`${where} failed (exit status ${code}); continuing`);
      if (firstFailure === 0) firstFailure = code;
    }
  }
  return firstFailure;
}

/** Runs one command inside the shell with its own Ctrl-C scope. */
async function runOne(
  session: Session,
  registry: Registry,
  words: string[],
  controller = new AbortController(),
) {
  session.signal = controller.signal;
  try {
    return await runArgv(words, session, registry);
  } finally {
    session.signal = new AbortController().signal;
  }
}

function loadHistory(file: string): string[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return lines.slice(-HISTORY_LINES).reverse(); // readline wants newest first
}

function appendHistory(session: Session, line: string): void {
  const file = session.store.historyFile;
  try {
    session.store.ensureDir();
    appendFileSync(file, `${line.replace(/\n/g, ' ')}\n`, { mode: 0o600 });
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    // Keep the file bounded: rewrite it with the newest lines once it doubles the limit.
    const all = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    if (all.length > HISTORY_LINES * 2)
      writeFileSync(file, `${all.slice(-HISTORY_LINES).join('\n')}\n`, { mode: 0o600 });
  } catch {
    // History is a convenience: a read-only config dir must not break the shell.
  }
}

function promptText(session: Session): string {
  if (session.disconnected) return 'vireo (disconnected)> ';
  let name: string;
  try {
    name = session.profileName();
  } catch {
    name = '?';
  }
  return `vireo [${name}]> `;
}

async function interactive(session: Session, registry: Registry): Promise<number> {
  const output = new MutableOutput(session.io.stdout);
  const sources = sessionSources(session);
  const rl = createInterface({
    input: session.io.stdin,
    output,
    terminal: true,
    history: loadHistory(session.store.historyFile),
    historySize: HISTORY_LINES,
    removeHistoryDuplicates: true,
    tabSize: 4,
    completer: (line: string, callback: (err: Error | null, result: [string[], string]) => void) => {
      const r = scan(line);
      complete(r.words, r.current, registry, sources, true)
        .then((candidates) => {
          const quoted = candidates.map((c) => (r.openQuote ? c : quoteWord(c)));
          // A single match is finished with a space, like bash does.
          const shown =
            quoted.length === 1 && !quoted[0]!.endsWith('/') && !quoted[0]!.endsWith('=')
              ? [`${quoted[0]} `]
              : quoted;
          callback(null, [shown, line.slice(r.start)]);
        })
        .catch(() => callback(null, [[], line]));
    },
  });
  session.prompter = new ShellPrompter(rl, output);
  let running: AbortController | undefined;
  rl.on('SIGINT', () => {
    if (running) {
      running.abort();
      return;
    }
    // At the prompt Ctrl-C drops the line being typed, as in bash.
    output.write('^C\n');
    rl.write(null, { ctrl: true, name: 'u' });
    rl.setPrompt(promptText(session));
    rl.prompt();
  });
  session.io.stdout.write('Vireo shell. Type "help" for commands, Tab to complete, "exit" to leave.\n');
  rl.setPrompt(promptText(session));
  rl.prompt();
  let pending = '';
  let last = 0;
  for await (const line of rl) {
    const text = pending === '' ? line : `${pending}\n${line}`;
    if (isIncomplete(text)) {
      pending = text.endsWith('\\') ? text.slice(0, -1) : text;
      rl.setPrompt('> ');
      rl.prompt();
      continue;
    }
    pending = '';
    let words: string[] = [];
    try {
      words = tokenize(text);
    } catch (err) {
      session.info(`Error [syntax_error]: ${(err as Error).message}`);
    }
    if (words.length > 0) {
      appendHistory(session, text.trim());
      if (words[0] === 'help') words = [...words.slice(1), '--help'];
      running = new AbortController();
      last = await runOne(session, registry, words, running);
      running = undefined;
      if (session.exitRequested !== undefined) break;
    }
    rl.setPrompt(promptText(session));
    rl.prompt();
  }
  rl.close();
  return session.exitRequested ?? last;
}
