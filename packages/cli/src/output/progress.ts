import type { Operation } from '@vireo/client';
import type { OutStream } from '../framework/session';
import { sanitize } from './text';

const BAR = 24;

/**
 * Shows an Operation's progress on stderr: a bar redrawn in place on a terminal, one plain line
 * per change otherwise (so logs of scripts stay readable).
 */
export class ProgressReporter {
  #lastLine = '';
  #drawn = false;

  constructor(
    private readonly stream: OutStream,
    private readonly tty = stream.isTTY === true,
  ) {}

  update(op: Operation): void {
    const pct = Math.round(Math.max(0, Math.min(1, op.progress ?? 0)) * 100);
    const what = `${sanitize(op.type)} ${op.id}`;
    if (this.tty) {
      const filled = Math.round((pct / 100) * BAR);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}]`;
      const text = `${bar} ${String(pct).padStart(3)}% ${op.state.padEnd(9)} ${what}`;
      const width = (this.stream.columns ?? 80) - 1;
      this.stream.write(`\r\x1b[2K${text.slice(0, width)}`);
      this.#drawn = true;
      return;
    }
    const line = `operation ${what}: ${op.state} ${pct}%`;
    if (line !== this.#lastLine) this.stream.write(`${line}\n`);
    this.#lastLine = line;
  }

  /** Ends the bar's line so later output starts on a fresh one. */
  finish(): void {
    if (this.tty && this.#drawn) this.stream.write('\n');
    this.#drawn = false;
  }
}
