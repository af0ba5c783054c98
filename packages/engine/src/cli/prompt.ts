import readline from 'node:readline';
import { Writable } from 'node:stream';

/**
 * Line-oriented questions on stdin/stdout. Lines are queued as they arrive, so answers piped in
 * all at once (`printf '...' | vireo-engine setup`) are not lost between questions; on a terminal,
 * secret answers are not echoed.
 */
export class Prompter {
  private readonly rl: readline.Interface;
  private readonly lines: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private closed = false;
  private muted = false;

  constructor(
    private readonly input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
  ) {
    const sink = new Writable({
      write: (chunk, _enc, cb) => {
        if (!this.muted) this.output.write(chunk);
        cb();
      },
    });
    this.rl = readline.createInterface({ input, output: sink, terminal: input.isTTY === true });
    this.rl.on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      } else this.lines.push(line);
    });
    this.rl.on('close', () => {
      this.closed = true;
      this.waiting?.(undefined);
      this.waiting = undefined;
    });
  }

  /** Asks one question; an empty answer takes `fallback`. Throws when input ends first. */
  async ask(question: string, fallback = ''): Promise<string> {
    this.output.write(fallback ? `${question} [${fallback}]: ` : `${question}: `);
    const line = await this.nextLine();
    const answer = line.trim();
    return answer === '' ? fallback : answer;
  }

  /** Asks for a secret without echoing it on a terminal. */
  async askSecret(question: string): Promise<string> {
    this.output.write(`${question}: `);
    this.muted = this.input.isTTY === true;
    try {
      return await this.nextLine();
    } finally {
      if (this.muted) this.output.write('\n');
      this.muted = false;
    }
  }

  /** Asks until `parse` accepts the answer, printing its error each time (up to 5 tries). */
  async askValid<T>(
    question: string,
    fallback: string,
    parse: (v: string) => T,
  ): Promise<{ raw: string; value: T }> {
    for (let i = 0; i < 5; i++) {
      const raw = await this.ask(question, fallback);
      try {
        return { raw, value: parse(raw) };
      } catch (err) {
        this.output.write(`  ${(err as Error).message}\n`);
      }
    }
    throw new Error(`no valid answer to "${question}" after 5 tries`);
  }

  close(): void {
    this.rl.close();
  }

  private nextLine(): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new Error('input ended before setup got all its answers'));
    return new Promise((resolve, reject) => {
      this.waiting = (line) =>
        line === undefined
          ? reject(new Error('input ended before setup got all its answers'))
          : resolve(line);
    });
  }
}
