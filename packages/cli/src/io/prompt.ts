import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { CliError, ExitCode } from '../framework/errors';

/** Asks the person at the terminal; fails with a usage error where nobody can answer. */
export interface Prompter {
  /** True when questions can be answered (a terminal is attached). */
  readonly interactive: boolean;
  ask(question: string): Promise<string>;
  /** Like ask, but the answer is not echoed and never enters history. */
  askSecret(question: string): Promise<string>;
  confirm(question: string): Promise<boolean>;
}

/**
 * A writable that forwards to a terminal stream unless muted. readline echoes typed characters
 * through its output, so muting it is how a secret is read without echo using public APIs only.
 */
export class MutableOutput extends Writable {
  muted = false;

  constructor(readonly target: NodeJS.WritableStream & { columns?: number; isTTY?: boolean }) {
    super();
  }

  get columns(): number | undefined {
    return this.target.columns;
  }

  get isTTY(): boolean {
    return this.target.isTTY === true;
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    if (!this.muted) this.target.write(chunk);
    cb();
  }
}

/** Asks one question on an existing readline interface. */
export function question(
  rl: Interface,
  output: MutableOutput,
  text: string,
  options: { secret?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const cleanup = () => {
      settled = true;
      rl.off('SIGINT', onInt);
      rl.off('close', onClose);
      output.muted = false;
    };
    const dropFromHistory = (answer: string) => {
      // readline keeps every entered line in its history: answers (a password above all) are not
      // commands and must not come back with the Up key.
      const history = (rl as unknown as { history?: string[] }).history;
      if (history && history[0] === answer) history.shift();
    };
    const onInt = () => {
      cleanup();
      output.target.write('\n');
      // Abandon the pending question by feeding readline an empty line while muted.
      output.muted = true;
      rl.write('\n');
      output.muted = false;
      reject(new CliError('interrupted', 'interrupted', ExitCode.interrupted));
    };
    const onClose = () => {
      cleanup();
      reject(new CliError('input_closed', 'input ended before an answer was given', ExitCode.usage));
    };
    rl.on('SIGINT', onInt);
    rl.once('close', onClose);
    if (options.secret) {
      output.target.write(text);
      output.muted = true;
    }
    rl.question(options.secret ? '' : text, (answer) => {
      dropFromHistory(answer);
      if (settled) return;
      cleanup();
      if (options.secret) output.target.write('\n');
      resolve(answer);
    });
  });
}

function yes(answer: string): boolean {
  return /^(y|yes)$/i.test(answer.trim());
}

/**
 * Prompts on the controlling terminal for one-shot commands: stdin must be a TTY; questions and
 * echo go to stderr so stdout stays machine-readable.
 */
export class TerminalPrompter implements Prompter {
  constructor(
    private readonly input: NodeJS.ReadableStream & { isTTY?: boolean },
    private readonly output: NodeJS.WritableStream & { columns?: number; isTTY?: boolean },
  ) {}

  get interactive(): boolean {
    return this.input.isTTY === true;
  }

  private async once(text: string, secret: boolean): Promise<string> {
    if (!this.interactive) {
      throw new CliError(
        'not_interactive',
        `cannot ask "${text.trim()}" without a terminal; pass the value as an option`,
        ExitCode.usage,
      );
    }
    const out = new MutableOutput(this.output);
    const rl = createInterface({ input: this.input, output: out, terminal: true, historySize: 0 });
    try {
      return await question(rl, out, text, { secret });
    } finally {
      rl.close();
    }
  }

  ask(text: string): Promise<string> {
    return this.once(text, false);
  }

  askSecret(text: string): Promise<string> {
    return this.once(text, true);
  }

  async confirm(text: string): Promise<boolean> {
    return yes(await this.once(text, false));
  }
}

/** Prompts through the interactive shell's own readline interface. */
export class ShellPrompter implements Prompter {
  constructor(
    private readonly rl: Interface,
    private readonly output: MutableOutput,
  ) {}

  readonly interactive = true;

  ask(text: string): Promise<string> {
    return question(this.rl, this.output, text);
  }

  askSecret(text: string): Promise<string> {
    return question(this.rl, this.output, text, { secret: true });
  }

  async confirm(text: string): Promise<boolean> {
    return yes(await question(this.rl, this.output, text));
  }
}

/** For scripts: every question is an error that names the option to use instead. */
export class NoPrompter implements Prompter {
  readonly interactive = false;

  private fail(text: string): never {
    throw new CliError(
      'not_interactive',
      `cannot ask "${text.trim()}" in a script; pass the value as an option`,
      ExitCode.usage,
    );
  }

  async ask(text: string): Promise<string> {
    this.fail(text);
  }

  async askSecret(text: string): Promise<string> {
    this.fail(text);
  }

  async confirm(text: string): Promise<boolean> {
    this.fail(text);
  }
}

/** Reads all of stdin (for --password-stdin) and drops one trailing newline. */
export async function readAllStdin(input: NodeJS.ReadableStream, maxBytes = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > maxBytes) throw new CliError('input_too_large', 'standard input is too large', ExitCode.usage);
    chunks.push(buf);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
